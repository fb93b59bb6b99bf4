# SPDX-License-Identifier: GPL-2.0-or-later
"""The soak's faults (tests/soak/run): one method per kind of the plan,
each injecting its fault on the lab and returning once it is over, and
the scheduler that runs the plan, one fault at a time per host. A mixin of
the Soak class: the model it updates (busy, down_hosts, gone, extra_ns,
containers, lastdist) is what the checks read."""

import json
import os
import signal
import threading
import time

from plan import BOUND, RESTART, plan_text


class Faults:
    def nft_soak(self, host, rules, underlay=True):
        """Loss and partition rules live in a table of the soak's own in
        the HOST's network namespace, at prerouting/postrouting so that
        they see forwarded (namespace) traffic and VXLAN as well; on the
        underlay (eth0) only, unless underlay is false."""
        iif = 'iifname "eth0" ' if underlay else ""
        oif = 'oifname "eth0" ' if underlay else ""
        script = ("table inet nsagent_soak\ndelete table inet nsagent_soak\n"
                  "table inet nsagent_soak {\n"
                  " chain pre { type filter hook prerouting priority -400; policy accept;\n"
                  + "".join(f"  {iif}{r[0]} drop\n" for r in rules) +
                  " }\n chain post { type filter hook postrouting priority -400; policy accept;\n"
                  + "".join(f"  {oif}{r[1]} drop\n" for r in rules) + " }\n}\n")
        self.lab.run(host, "nft", "-f", "-", stdin=script)

    def nft_soak_remove(self, host):
        self.lab.run(host, "nft", "delete", "table", "inet", "nsagent_soak", check=False)

    def cni(self, host, command, cid, netns):
        conf = '{"cniVersion":"1.0.0","name":"nsagent","type":"nsagent"}'
        env = ["env", "-i", f"CNI_COMMAND={command}", "CNI_PATH=/usr/lib/cni",
               f"CNI_CONTAINERID={cid}", "CNI_IFNAME=eth0", f"CNI_NETNS=/run/netns/{netns}"]
        return self.lab.run(host, *env, self.lab.cni, stdin=conf, check=False, timeout=60)

    def retry(self, what, fn, deadline):
        """fn() until it returns a true value, within deadline seconds."""
        end = time.monotonic() + deadline
        while True:
            r = fn()
            if r:
                return r
            if time.monotonic() > end:
                raise RuntimeError(f"{what}: not done within {deadline}s")
            time.sleep(0.5)

    def fault(self, f):
        """Injects fault f and returns once it is over (its hosts back)."""
        getattr(self, "fault_" + f["kind"])(f, f["hosts"][0], f.get("hold", 0))

    def agent_restart(self, h, stop, hold, away=None):
        """Stops h's agent (deploy/lab agent ... or nsagent down), keeps it
        down for hold seconds, starts it again; the checker knows it is
        down on purpose meanwhile."""
        with self.lock:
            self.down_hosts.add(h)
        stop()
        self.retry(f"{h}: agent gone", lambda: self.lab.agent_pid(h) is None, 30)
        if away:
            away()
        else:
            time.sleep(hold)
        self.lab.ctl("agent", h, "start", "--timeout", str(BOUND))
        with self.lock:
            self.down_hosts.discard(h)

    def fault_kill(self, f, h, hold):
        self.agent_restart(h, lambda: self.lab.ctl("agent", h, "kill"), hold)

    def fault_term(self, f, h, hold):
        self.agent_restart(h, lambda: self.lab.ctl("agent", h, "stop"), hold)

    def fault_down(self, f, h, hold):
        def away():
            # Past the restart time it has left for good: the checker
            # wants its routes gone everywhere.
            with self.lock:
                if hold > RESTART:
                    self.gone[h] = self.now()
            time.sleep(hold)
            with self.lock:
                self.gone.pop(h, None)
        self.agent_restart(h, lambda: self.lab.run(h, self.lab.nsagent, "down", timeout=60),
                           hold, away)

    def fault_stop(self, f, h, hold):
        pid = self.lab.agent_pid(h)
        if pid is None:
            raise RuntimeError(f"{h}: no agent to SIGSTOP")
        os.kill(pid, signal.SIGSTOP)
        time.sleep(hold)
        os.kill(pid, signal.SIGCONT)

    def fault_link(self, f, h, hold):
        self.lab.ctl("link", h, "down")
        time.sleep(hold)
        self.lab.ctl("link", h, "up")

    def fault_partition(self, f, h, hold):
        inside = set(f["hosts"])
        others = ", ".join(self.info[x]["ip"] for x in self.hosts if x not in inside)
        for x in f["hosts"]:
            self.nft_soak(x, [(f"ip saddr {{ {others} }}", f"ip daddr {{ {others} }}")])
        time.sleep(hold)
        for x in f["hosts"]:
            self.nft_soak_remove(x)

    def fault_loss(self, f, h, hold):
        p = f["percent"]
        self.nft_soak(h, [(f"numgen random mod 100 < {p}", f"numgen random mod 100 < {p}")])
        time.sleep(hold)
        self.nft_soak_remove(h)

    def fault_ns(self, f, h, hold):
        name = f"soak{f['id']}"
        self.lab.run(h, self.lab.nsagent, "ns", "add", name)
        with self.lock:
            self.extra_ns[h].add(name)
        time.sleep(hold)
        self.lab.run(h, self.lab.nsagent, "ns", "del", name)
        with self.lock:
            self.extra_ns[h].discard(name)

    def fault_container(self, f, h, hold):
        cid, netns = f"soak-{f['id']}", f"soakc{f['id']}"
        self.lab.run(h, "ip", "netns", "add", netns)
        with self.lock:
            self.containers[h][cid] = netns

        def add():
            r = self.cni(h, "ADD", cid, netns)
            if r.returncode == 0:
                return json.loads(r.stdout)
            # 11: try again later (agent busy); anything else is wrong
            if '"code": 11' not in r.stdout and '"code":11' not in r.stdout:
                raise RuntimeError(f"{h}: CNI ADD {cid} exited {r.returncode}: {r.stdout}")
            return None
        res = self.retry(f"{h}: CNI ADD {cid}", add, BOUND)
        self.log("cni-add", host=h, id=cid, ip=res["ips"][0]["address"])
        time.sleep(hold)
        self.retry(f"{h}: CNI DEL {cid}",
                   lambda: self.cni(h, "DEL", cid, netns).returncode == 0, BOUND)
        self.lab.run(h, "ip", "netns", "del", netns)
        with self.lock:
            del self.containers[h][cid]

    def fault_reload(self, f, h, hold):
        before = self.counter(h, "reloads", "ok")
        conf = (f"[nsagent]\nlog-level = {f['log_level']}\n"
                f"probe-interval = {f['probe_interval']}\n")
        with open(os.path.join(self.lab.dir, h, "etc", "nsagent.conf"), "w") as fh:
            fh.write(conf)
        self.lab.run(h, self.lab.nsagent, "reload")
        after = self.counter(h, "reloads", "ok")
        if after != before + 1:
            self.violate("reload", f"{h}: reloads.ok went {before} -> {after} for a good config")

    def fault_handdel(self, f, h, hold):
        self.handdel(h, f["what"], f["pick"])

    def counter(self, h, name, label=None):
        r = self.lab.run(h, self.lab.nsagent, "status", "--json", check=False)
        try:
            v = json.loads(r.stdout)["counters"][name]
        except (json.JSONDecodeError, KeyError) as e:
            raise RuntimeError(f"{h}: no counter {name} in status --json (exit {r.returncode}: "
                               f"{r.stderr.strip()[-300:]})") from e
        return v[label] if label else v

    def handdel(self, h, what, pick):
        """Deletes one thing the agent owns, as an operator's slip would.
        The agent may still be repairing an earlier one: what is not there
        is not deleted (logged), which is no failure of the agent's."""
        lab = self.lab

        def gone(thing, r):
            self.log("handdel", host=h, what=thing,
                     result="deleted" if r.returncode == 0 else "absent: " + r.stderr.strip())
        if what == "route":
            routes = json.loads(lab.run(h, "ip", "-4", "-j", "route", "show", "proto",
                                        "nsagent").stdout or "[]")
            if routes:
                dst = routes[pick % len(routes)]["dst"]
                gone(f"route {dst}", lab.run(h, "ip", "route", "del", dst, "proto", "nsagent",
                                             check=False))
                return
            what = "nft-rule"
        if what == "vxlan":
            gone("link nsa-vxlan", lab.run(h, "ip", "link", "del", "nsa-vxlan", check=False))
            return
        if what == "link":
            name = ("nsa-NS1", "nsa-NS2", "br0")[pick % 3]
            gone(f"link {name}", lab.run(h, "ip", "link", "del", name, check=False))
            return
        if what == "nft-rule":
            r = lab.run(h, "nft", "-j", "-a", "list", "table", "inet", "nsagent", check=False)
            rules = [o["rule"] for o in json.loads(r.stdout or '{"nftables": []}')["nftables"]
                     if "rule" in o]
            if not rules:
                gone("an nft rule", r)
                return
            rule = rules[pick % len(rules)]
            gone(f"nft rule {rule['chain']} handle {rule['handle']}",
                 lab.run(h, "nft", "delete", "rule", "inet", "nsagent", rule["chain"], "handle",
                         str(rule["handle"]), check=False))
            return
        gone("nft table inet nsagent", lab.run(h, "nft", "delete", "table", "inet", "nsagent",
                                               check=False))

    def fault_thread(self, f):
        rec = self.faults[f["id"]]
        try:
            self.fault(f)
        except Exception as e:  # noqa: BLE001 - any failure to inject is reported
            # A fault that fails because its host's agent died names that.
            dead = [h for h in f["hosts"]
                    if h not in self.down_hosts and self.lab.agent_pid(h) is None]
            if dead:
                self.violate("agent-alive", f"{', '.join(dead)}'s agent is not running "
                             f"(crashed?) while injecting {plan_text(f)}: {e}")
            else:
                self.violate("fault-injection", f"{plan_text(f)}: {e}")
        with self.lock:
            rec["end"] = self.now()
            rec["state"] = "healing"
            for h in f["hosts"]:
                self.lastdist[h] = rec["end"]
                self.busy.pop(h, None)
        self.log("fault-end", id=f["id"], kind=f["kind"], hosts=",".join(f["hosts"]))

    def scheduler(self, plan):
        """Injects the plan's faults at their times (seconds after the
        faults phase began). A host takes one fault at a time: a fault
        whose targets are still busy waits for them (what is injected
        where stays the seed's; only its timing slips), and one still
        waiting when the duration is over is skipped and logged."""
        threads = []
        for f in plan:
            if self.stop_event.is_set():
                break
            while self.since_faults() < f["at"] and not self.stop_event.is_set():
                time.sleep(min(0.2, max(0.01, f["at"] - self.since_faults())))
            started = False
            while not self.stop_event.is_set() and self.since_faults() <= self.args.duration:
                with self.lock:
                    if not any(h in self.busy for h in f["hosts"]):
                        for h in f["hosts"]:
                            self.busy[h] = f["id"]
                            self.touched[h] += 1
                        # a new fault on a host ends the heal watch of older ones
                        for r in self.faults.values():
                            if r["state"] == "healing" and set(r["plan"]["hosts"]) & set(f["hosts"]):
                                r["state"] = "superseded"
                        self.faults[f["id"]] = {"plan": f, "start": self.now(), "end": None,
                                                "state": "active", "heal": None}
                        started = True
                        break
                time.sleep(0.2)
            if not started:
                if not self.stop_event.is_set():
                    self.log("fault-skipped", id=f["id"], why="targets busy until the end")
                continue
            self.log("fault", id=f["id"], kind=f["kind"], hosts=",".join(f["hosts"]),
                     detail=plan_text(f))
            t = threading.Thread(target=self.fault_thread, args=(f,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()

    def sabotage(self):
        """--sabotage: proves the checker by doing, behind the model's
        back, something one invariant must catch (the run must fail naming
        it). host3 is a victim host; host2 is one end of the ping stream."""
        what = self.args.sabotage
        time.sleep(5)
        self.log("sabotage", what=what)
        if what == "crash":
            # host1: never faulted, so nothing but the check sees it
            os.kill(self.lab.agent_pid("host1"), signal.SIGKILL)
        elif what == "netns":
            self.lab.run("host3", "ip", "netns", "add", "stray")
        elif what == "cut":
            # host3 and host4 never hear each other again (a table of its
            # own, which the soak's loss and partition faults leave alone)
            ip4 = self.info["host4"]["ip"]
            self.lab.run("host3", "nft", "-f", "-", stdin=(
                "table inet soak_sabotage {\n"
                " chain pre { type filter hook prerouting priority -400;"
                f" ip saddr {ip4} drop; }}\n"
                " chain post { type filter hook postrouting priority -400;"
                f" ip daddr {ip4} drop; }}\n}}\n"))
        elif what == "veth":
            self.lab.run("host3", "ip", "link", "add", "nsa-stray", "type", "veth", "peer",
                         "name", "nsa-stray1")
        elif what == "ping":
            self.nft_soak("host2", [("icmp type echo-request", "icmp type echo-reply")],
                          underlay=False)
            time.sleep(2)
            self.nft_soak_remove("host2")
