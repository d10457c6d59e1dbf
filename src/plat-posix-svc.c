/*
 * plat-posix-svc.c: the system service functions of plat.h on POSIX.
 * systemd runs `exoconnect serve` from the unit in docs/systemd, so
 * installing and controlling a service is systemctl's work; these
 * functions only say so. Alerts go to syslog.
 */
#include <stdatomic.h>
#include <syslog.h>

#include "plat.h"

#define PLAT_SVC_ELSEWHERE "not on this system; use the systemd unit, " \
	"see docs/systemd.md"

int
plat_svc_check_admin(struct exo_error *e)
{
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

int
plat_svc_data_dir(char out[PLAT_PATH_MAX], struct exo_error *e)
{
	out[0] = '\0';
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

int
plat_svc_install(const struct plat_svc_install *in, plat_svc_say_fn say,
    void *ctx, struct exo_error *e)
{
	(void)in;
	(void)say;
	(void)ctx;
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

int
plat_svc_uninstall(int delete_data, plat_svc_say_fn say, void *ctx,
    struct exo_error *e)
{
	(void)delete_data;
	(void)say;
	(void)ctx;
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

int
plat_svc_start(struct exo_error *e)
{
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

int
plat_svc_stop(struct exo_error *e)
{
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

int
plat_svc_status(struct plat_svc_status *out, struct exo_error *e)
{
	out->state = PLAT_SVC_NOT_INSTALLED;
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

int
plat_svc_run(int (*serve)(void *arg), void (*on_stop)(void *arg),
    void *arg, struct exo_error *e)
{
	(void)serve;
	(void)on_stop;
	(void)arg;
	return (err_set(e, EXO_ERR_INVALID, "%s", PLAT_SVC_ELSEWHERE));
}

void
plat_svc_running(void)
{
}

/* syslog levels by plat_alert_level. */
static const int plat_syslog_levels[] = {
	[PLAT_ALERT_INFO] = LOG_INFO,
	[PLAT_ALERT_WARNING] = LOG_WARNING,
	[PLAT_ALERT_ERROR] = LOG_ERR,
};

void
plat_svc_alert(enum plat_alert_level level, unsigned id, const char *text)
{
	static atomic_int	opened;
	int			priority = LOG_ERR;

	/* openlog keeps a pointer to the name, so it must be static text. */
	if (!atomic_exchange(&opened, 1))
		openlog(PLAT_SVC_NAME, LOG_PID, LOG_DAEMON);
	if ((unsigned)level < sizeof(plat_syslog_levels) /
	    sizeof(plat_syslog_levels[0]))
		priority = plat_syslog_levels[level];
	syslog(priority, "event_id=%u %s", id, text);
}
