# SPDX-License-Identifier: GPL-2.0-or-later
"""The soak's view of a deploy/lab cluster: deploy/lab commands, commands
inside a host (its network and mount namespaces, as `deploy/lab exec`
enters them, without a shell per call), one-shot snapshots of a host's
state (status, routes, veths, nft, netns, metrics) and /proc samples."""

import json
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
LABCTL = os.path.join(REPO, "deploy", "lab")
LAB_ROOT = "/run/nsagent-lab"


class Lab:
    def __init__(self, name, nsagent, cni):
        self.name, self.nsagent, self.cni = name, nsagent, cni
        self.dir = os.path.join(LAB_ROOT, name)
        self.env = dict(os.environ, NSAGENT=nsagent, NSAGENT_LAB=name)

    def ctl(self, *args, timeout=120, check=True):
        r = subprocess.run([LABCTL, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"deploy/lab {' '.join(args)} exited {r.returncode}: "
                               f"{(r.stderr or r.stdout).strip()[-800:]}")
        return r

    def enter(self, host, ns=None):
        d = os.path.join(self.dir, host)
        cmd = ["nsenter", f"--net={d}/net", f"--mount={d}/mnt", "--wd=/", "--"]
        return cmd + (["ip", "netns", "exec", ns] if ns else [])

    def run(self, host, *cmd, ns=None, timeout=30, check=True, stdin=None):
        r = subprocess.run(self.enter(host, ns) + list(cmd), capture_output=True, text=True,
                           timeout=timeout, input=stdin, env=self.env)
        if check and r.returncode != 0:
            raise RuntimeError(f"{host}: {' '.join(cmd)} exited {r.returncode}: "
                               f"{(r.stderr or r.stdout).strip()[-800:]}")
        return r

    def read(self, host, name):
        with open(os.path.join(self.dir, host, name)) as fh:
            return fh.read().strip()

    def agent_pid(self, host):
        """The agent's pid when it is alive in HOST's network namespace (as
        deploy/lab's agent_pid decides, without a shell per call)."""
        d = os.path.join(self.dir, host)
        try:
            with open(os.path.join(d, "agent.pid")) as fh:
                pid = int(fh.read().strip())
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return None
            if os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat(os.path.join(d, "net")).st_ino:
                return None
            return pid
        except (OSError, ValueError, IndexError):
            return None


# A host's state in one shot: status, routes, links, the nft table, named
# namespaces, and one metrics scrape, as sections of one shell run.
SNAPSHOT_SH = r'''
echo "@@status"; "$1" status --json 2>/dev/null; echo
echo "@@routes"; ip -4 -j route show proto nsagent
echo "@@veths"; ip -j link show type veth
echo "@@nft"; nft -j list table inet nsagent 2>/dev/null || echo null
echo "@@netns"; ls -1 /run/netns 2>/dev/null
echo "@@metrics"; curl -s -m 5 http://127.0.0.1:9470/metrics | grep -E '^nsagent_(routes|sessions)' || true
echo "@@end"
'''


def parse_snapshot(text):
    sec, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@@"):
            cur = line[2:]
            sec[cur] = []
        elif cur:
            sec[cur].append(line)

    def js(name, default):
        body = "\n".join(sec.get(name, [])).strip()
        try:
            return json.loads(body) if body else default
        except json.JSONDecodeError:
            return default
    if "end" not in sec:
        return None
    nft = js("nft", None)
    metrics = {}
    for line in sec.get("metrics", []):
        parts = line.rsplit(" ", 1)
        if len(parts) == 2:
            try:
                metrics[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return {
        "status": js("status", None),
        "routes": js("routes", []),
        "veths": [lk["ifname"] for lk in js("veths", []) if lk.get("ifname") != "eth0"],
        "nft_rules": None if nft is None else
        sum(1 for o in nft.get("nftables", []) if "rule" in o),
        "netns": sorted(x for x in sec.get("netns", []) if x),
        "metrics": metrics,
    }


def proc_sample(pid):
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/status") as fh:
            rss = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:"))
        return fds, rss
    except (OSError, StopIteration, ValueError):
        return None
