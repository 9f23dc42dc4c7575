-- Whether the server takes writes and whether it is a standby (libpq's target_session_attrs).
select pg_catalog.current_setting('transaction_read_only') = 'on', pg_catalog.pg_is_in_recovery()
