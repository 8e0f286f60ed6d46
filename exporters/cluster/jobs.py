"""Job and CronJob families."""

from __future__ import annotations

from datetime import UTC, datetime

from exporters.cluster import cron
from exporters.cluster.family import Family, Kind, Obj, Options, Out, meta_families, num, owners, timestamp
from observe.exposition import labels
from observe.kube.reflector import Resource

JOB_FAILURE_REASONS = ("BackoffLimitExceeded", "DeadlineExceeded", "Evicted")

JOB_FAMILIES = (
    Family("kube_job_status_failed", "gauge", "The number of pods which reached Phase Failed and the reason for failure."),
    Family("kube_job_status_succeeded", "gauge", "The number of pods which reached Phase Succeeded."),
    Family("kube_job_status_active", "gauge", "The number of actively running pods."),
    Family("kube_job_status_start_time", "gauge",
           "StartTime represents time when the job was acknowledged by the Job Manager."),
    Family("kube_job_failed", "gauge", "The job has failed its execution."),
    Family("kube_job_spec_completions", "gauge",
           "The desired number of successfully finished pods the job should be run with."),
    Family("kube_job_owner", "gauge", "Information about the Job's owner."),
    *meta_families("job", "job"),
)


def render_job(job: Obj, opts: Options) -> dict[str, bytes]:
    """Status counts, the Failed condition, completions and owners of one job."""
    md, spec, st = job.get("metadata") or {}, job.get("spec") or {}, job.get("status") or {}
    out = Out(labels((("namespace", md.get("namespace", "")), ("job_name", md.get("name", "")))))
    failed = st.get("failed", 0)
    conditions = st.get("conditions") or ()
    if not failed:
        out.add("kube_job_status_failed", 0)
    else:
        # With a Failed condition, one series per known reason (0/1); otherwise the count under reason="".
        known = False
        for c in conditions:
            if c.get("type") == "Failed":
                for reason in JOB_FAILURE_REASONS:
                    hit = c.get("reason") == reason
                    known = known or hit
                    out.add("kube_job_status_failed", 1 if hit else 0, f'reason="{reason}"')
        if not known:
            out.add("kube_job_status_failed", failed, 'reason=""')
    out.add("kube_job_status_succeeded", num(st.get("succeeded", 0)))
    out.add("kube_job_status_active", num(st.get("active", 0)))
    out.add("kube_job_status_start_time", timestamp(st.get("startTime")))
    for c in conditions:
        if c.get("type") == "Failed":
            out.bool3("kube_job_failed", c.get("status"))
    out.add("kube_job_spec_completions", num(spec.get("completions")))
    owners(out, "kube_job_owner", job, "")
    out.meta("job", job, opts)
    return out.result()


CRONJOB_FAMILIES = (
    Family("kube_cronjob_info", "gauge", "Info about cronjob."),
    Family("kube_cronjob_next_schedule_time", "gauge",
           "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after the cron job's creation "
           "time if it's never been scheduled. Use this to determine if the job is delayed."),
    Family("kube_cronjob_status_last_schedule_time", "gauge",
           "LastScheduleTime keeps information of when was the last time the job was successfully scheduled."),
    *meta_families("cronjob", "cronjob"),
)


def render_cronjob(cj: Obj, opts: Options) -> dict[str, bytes]:
    """Info, next and last schedule times of one cronjob."""
    md, spec, st = cj.get("metadata") or {}, cj.get("spec") or {}, cj.get("status") or {}
    out = Out(labels((("namespace", md.get("namespace", "")), ("cronjob", md.get("name", "")))))
    schedule = spec.get("schedule", "")
    # kube-state-metrics 2.20 names the time zone, `local` when the spec leaves it to the controller manager.
    out.add("kube_cronjob_info", 1, labels((("schedule", schedule),
                                             ("concurrency_policy", spec.get("concurrencyPolicy", "")),
                                             ("timezone", spec.get("timeZone") or "local"))))
    last = timestamp(st.get("lastScheduleTime"))
    created = timestamp(md.get("creationTimestamp"))
    base = last if last is not None else created
    if base is not None:
        try:
            nxt = cron.parse(schedule, spec.get("timeZone")).next_after(datetime.fromtimestamp(base, UTC))
        except cron.CronError:
            nxt = None  # an unparseable schedule has no next time; the API server rejects most of them anyway
        if nxt is not None:
            out.add("kube_cronjob_next_schedule_time", float(int(nxt.timestamp())))
    out.add("kube_cronjob_status_last_schedule_time", last)
    out.meta("cronjob", cj, opts)
    return out.result()


JOB = Kind("jobs", Resource("batch", "v1", "jobs"), JOB_FAMILIES, render_job)
CRONJOB = Kind("cronjobs", Resource("batch", "v1", "cronjobs"), CRONJOB_FAMILIES, render_cronjob)
