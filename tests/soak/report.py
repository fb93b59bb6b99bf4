# SPDX-License-Identifier: GPL-2.0-or-later
"""The soak's report: faults injected by kind, heal times, invariant
checks, the ping stream, RSS and fds, and their plot (gnuplot)."""

import collections
import os
import shutil
import subprocess

from plan import BOUND, GONE_BOUND, HOLD, KINDS, PROBE, RESTART, RETRY_MAX


def report(soak, plan, out, seed, args, elapsed, down_rc):
    kinds = collections.Counter(r["plan"]["kind"] for r in soak.faults.values())
    heal = collections.defaultdict(list)
    for r in soak.faults.values():
        if r["heal"] is not None:
            heal[r["plan"]["kind"]].append(r["heal"])
    lines = [f"seed {seed}, {args.hosts} hosts (topology router: direct and VXLAN peers), "
             f"{args.duration} s of faults, {elapsed:.0f} s in all; agents {soak.lab.nsagent}",
             f"timers: hold {HOLD} s, restart {RESTART} s, connect retry max {RETRY_MAX} s, "
             f"probe {PROBE} s; heal bound {BOUND} s, gone bound {GONE_BOUND} s", "",
             "| fault | injected | healed | worst heal (s) |", "|---|---|---|---|"]
    for k in KINDS:
        hs = heal.get(k, [])
        lines.append(f"| {k} | {kinds.get(k, 0)} | {len(hs)} | "
                     f"{max(hs):.1f} |" if hs else f"| {k} | {kinds.get(k, 0)} | 0 | - |")
    lines += ["", "| invariant | checks |", "|---|---|"]
    for k, v in sorted(soak.checks.items()):
        lines.append(f"| {k} | {v} |")
    if soak.withdrawn:
        lines += ["", "node left for good: routes gone everywhere after " +
                  ", ".join(f"{h}: {t:.1f} s" for h, t in soak.withdrawn.items())]
    seqs = soak.ping_received() if soak.ping else set()
    if seqs:
        lines += ["", f"ping stream host1 NS1 -> host2 NS1: {max(seqs)} sent, "
                  f"{len(seqs)} answered"]
    # fd and RSS over the run
    per = collections.defaultdict(list)
    with open(os.path.join(out, "samples.tsv")) as fh:
        for ln in fh:
            if ln.startswith("#"):
                continue
            t, h, pid, rss, fds = ln.split()
            per[h].append((float(t), int(pid), int(rss), int(fds)))
    if per:
        rss = [x[2] for v in per.values() for x in v]
        fds = [x[3] for v in per.values() for x in v]
        lines += ["", f"agent RSS {min(rss) // 1024}-{max(rss) // 1024} MiB, "
                  f"fds {min(fds)}-{max(fds)} over {sum(len(v) for v in per.values())} samples"]
    lines += ["", f"lab down: {'sanitizer report' if down_rc == 3 else 'clean' if down_rc == 0 else f'exit {down_rc}'}"]
    v = soak.violation
    lines += ["", "RESULT: " + ("all invariants held" if not v else
                                f"FAILED: invariant '{v['invariant']}' at {v['t']} s: {v['detail']}; "
                                f"faults active: {v['active'] or 'none'}")]
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    if per and shutil.which("gnuplot"):
        plot(per, out, soak.t_faults)
    return "\n".join(lines)


def plot(per, out, t_faults):
    """RSS and fds of every agent over the run; a line breaks where its
    agent was restarted (another pid), so no line bridges a dead agent."""
    datadir = os.path.join(out, "plot")
    os.makedirs(datadir, exist_ok=True)
    hosts = sorted(per, key=lambda h: int(h[4:]))
    for h in hosts:
        with open(os.path.join(datadir, h), "w") as fh:
            last = None
            for t, pid, rss, fds in per[h]:
                if last is not None and pid != last:
                    fh.write("\n")
                last = pid
                fh.write(f"{t} {rss / 1024:.1f} {fds}\n")
    rss_plots = ", ".join(f"'{datadir}/{h}' u 1:2 w l t '{h}'" for h in hosts)
    fd_plots = ", ".join(f"'{datadir}/{h}' u 1:3 w l notitle" for h in hosts)
    script = f"""
set terminal pngcairo size 1200,800 noenhanced
set output '{out}/mem_fd.png'
set multiplot layout 2,1 title 'nsagent soak: agent RSS and open fds per host'
set ylabel 'RSS (MiB)'
set key outside right
set yrange [0:*]
set arrow from {t_faults},graph 0 to {t_faults},graph 1 nohead dashtype 2
plot {rss_plots}
set ylabel 'open fds'
set xlabel 'seconds since start'
plot {fd_plots}
unset multiplot
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        # pngcairo may be missing from gnuplot-nox: the plain png terminal
        script = script.replace("pngcairo size 1200,800 noenhanced", "png size 1200,800")
        subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
