"""What the official-client scripts share: connecting from the command line arguments,
failing with a message, and following a job the way the client's PollJob helper does."""
import sys

from ganeti.rapi import client as rapi


def connect(argv=None):
    """HOST PORT USER PASSWORD CAFILE → (client, curl config), verifying the certificate."""
    host, port, user, password, cafile = (argv or sys.argv)[1:6]
    curl_config = rapi.GenericCurlConfig(cafile=cafile, verify_hostname=True, timeout=60)
    client = rapi.GanetiRapiClient(host, port=int(port), username=user, password=password, curl_config_fn=curl_config)
    return client, curl_config


def check(cond, what):
    if not cond:
        raise SystemExit("FAILED: %s" % what)


def poll(c, job_id, messages=None, status_only=False):
    """Follows a job with WaitForJobChange until it is finalized; its GetJobStatus dict, or
    with status_only its status alone (through a standby master, whose copy of the jobs a
    GetJobStatus would read). The log messages handed out on the way are appended to
    `messages` when given."""
    prev_info, prev_serial = None, None
    for _ in range(200):
        result = c.WaitForJobChange(job_id, ["status"], prev_info, prev_serial)
        if not result:
            continue
        info, log = result["job_info"], result["log_entries"]
        if log:
            prev_serial = max(entry[0] for entry in log)
            if messages is not None:
                messages.extend(entry[3] for entry in log)
        if info[0] in rapi.JOB_STATUS_FINALIZED and not log:
            return info[0] if status_only else c.GetJobStatus(job_id)
        prev_info = info
    raise SystemExit("FAILED: job %s did not finish" % job_id)


def poll_id(c, job_id):
    """poll() after checking the submit answered a bare integer job id."""
    check(isinstance(job_id, int), "a job id is an integer: %r" % (job_id,))
    return poll(c, job_id)


def succeeds(c, job_id, what):
    """Waits for a job that must succeed; the first opcode's result."""
    job = poll_id(c, job_id)
    check(job["status"] == "success", "%s: %r" % (what, job["opresult"]))
    return job["opresult"][0]

