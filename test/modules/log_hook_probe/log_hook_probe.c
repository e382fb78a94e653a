/*
 * A stand-in for another extension that uses emit_log_hook, for test_security.py: preloaded
 * before bottledwater, it appends every message it is shown to log_hook_probe.out in the data
 * directory, so a test can tell whether bottledwater's worker still passes messages on.
 */
#include "postgres.h"

#include <stdio.h>

#include "fmgr.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static emit_log_hook_type previous_emit_log_hook = NULL;

static void
probe_emit_log(ErrorData *edata)
{
	FILE	   *out = fopen("log_hook_probe.out", "a");

	if (out != NULL)
	{
		fprintf(out, "%s\n", edata->message ? edata->message : "");
		fclose(out);
	}
	if (previous_emit_log_hook)
		previous_emit_log_hook(edata);
}

void
_PG_init(void)
{
	previous_emit_log_hook = emit_log_hook;
	emit_log_hook = probe_emit_log;
}
