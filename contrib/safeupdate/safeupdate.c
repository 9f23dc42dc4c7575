/*
 * safeupdate: refuses UPDATE and DELETE statements that have no WHERE clause.
 *
 * tusk's own small module with the documented behaviour of pg-safeupdate (written from its
 * description, not from its code), so that PostgREST's PgSafeUpdateSpec can run where no
 * package of pg-safeupdate exists. Once loaded (`LOAD 'safeupdate'`, or
 * `session_preload_libraries`), every statement is checked right after parse analysis:
 *
 *   UPDATE t SET x = 1            -> ERROR 21000 "UPDATE requires a WHERE clause"
 *   DELETE FROM t                 -> ERROR 21000 "DELETE requires a WHERE clause"
 *   WITH s AS (DELETE FROM t ...) -> the same: data-modifying WITH queries are checked too
 *   UPDATE t SET x = 1 WHERE true -> allowed (any WHERE clause will do)
 *
 * `SET safeupdate.enabled = off` turns the check off for a session or a transaction.
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static bool check_enabled = true;
static post_parse_analyze_hook_type chained_hook = NULL;

/* Raises the error when `query`, or one of its WITH queries, updates or deletes everything. */
static void
refuse_unqualified(Query *query)
{
	ListCell   *cell;

	if ((query->commandType == CMD_UPDATE || query->commandType == CMD_DELETE) &&
		(query->jointree == NULL || query->jointree->quals == NULL))
	{
		if (query->commandType == CMD_UPDATE)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("UPDATE requires a WHERE clause")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("DELETE requires a WHERE clause")));
	}

	foreach(cell, query->cteList)
	{
		CommonTableExpr *cte = (CommonTableExpr *) lfirst(cell);

		if (cte->ctequery != NULL && IsA(cte->ctequery, Query))
			refuse_unqualified((Query *) cte->ctequery);
	}
}

static void
after_parse_analysis(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (chained_hook != NULL)
		chained_hook(pstate, query, jstate);
	if (check_enabled)
		refuse_unqualified(query);
}

void
_PG_init(void)
{
	DefineCustomBoolVariable("safeupdate.enabled",
							 "Refuse UPDATE and DELETE statements without a WHERE clause.",
							 NULL,
							 &check_enabled,
							 true,
							 PGC_USERSET,
							 0,
							 NULL,
							 NULL,
							 NULL);
	MarkGUCPrefixReserved("safeupdate");

	chained_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = after_parse_analysis;
}
