# SPDX-License-Identifier: GPL-2.0-or-later
"""The soak's invariants (tests/soak/run, issue 18), checked in rounds
while the faults run and once more at the end: from `status --json`, the
metrics endpoint, /proc and the kernel, never from log text. A mixin of
the Soak class: it reads the model the faults keep (which hosts are busy,
down on purpose, gone for good; the namespaces and containers made) and
calls violate() with the first invariant that does not hold."""

import collections
import subprocess
import threading

from labctl import SNAPSHOT_SH, parse_snapshot, proc_sample
from plan import BOUND, GONE_BOUND, RESTART

PING_INTERVAL = 0.2
FD_SLACK = 4  # transient descriptors: a control client, a metrics scrape
RSS_SLACK_KB = 64 * 1024  # growth allowed per agent process (quarantine is capped)


class Checks:
    def snapshot(self, hosts):
        snaps = {}

        def one(h):
            try:
                r = self.lab.run(h, "sh", "-c", SNAPSHOT_SH, "snapshot", self.lab.nsagent,
                                 check=False, timeout=60)
                snaps[h] = parse_snapshot(r.stdout)
            except subprocess.TimeoutExpired:
                snaps[h] = None
        ts = [threading.Thread(target=one, args=(h,)) for h in hosts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return snaps

    def expected_mode(self, a, b):
        return "direct" if self.info[a]["seg"] == self.info[b]["seg"] else "vxlan"

    def pair_ok(self, a, b, snaps):
        """a's view of b: session, route, probe and the kernel route."""
        sa, ib = snaps[a], self.info[b]
        peer = next((p for p in sa["status"]["peers"] if p.get("address") == ib["ip"]), None)
        if not peer:
            return f"{a} has no peer {b} ({ib['ip']})"
        mode = self.expected_mode(a, b)
        want = {"state": "established", "route": "installed", "probe": "ok",
                "subnet": ib["subnet"], "mode": mode}
        bad = {k: peer.get(k) for k, v in want.items() if peer.get(k) != v}
        if bad:
            return f"{a}'s peer {b}: {bad} (want {want})"
        route = next((r for r in sa["routes"] if r["dst"] == ib["subnet"]), None)
        if mode == "direct":
            ok = route and route.get("gateway") == ib["ip"] and route.get("dev") == "eth0"
        else:
            ok = route and route.get("dev") == "nsa-vxlan"
        if not ok:
            return f"{a}: kernel route to {b}'s {ib['subnet']} is {route} (want {mode})"
        return None

    def host_local(self, h, snap):
        """h's own state: routes only to nodes of the cluster, its subnet,
        unique addresses, and nothing leaked (netns, veth, nft rules).
        Returns (invariant, detail) or None."""
        st = snap["status"]
        info = self.info[h]
        if st["node"]["subnet"] != info["subnet"]:
            return "subnet", f"{h} holds {st['node']['subnet']}, not its {info['subnet']}"
        for r in snap["routes"]:
            owner = self.subnet_owner.get(r["dst"])
            if owner is None or owner == h:
                return "routes-exact", f"{h} has a route to {r['dst']}, no other node's subnet"
        seen = {}
        for p in st["peers"]:
            if p.get("route") in ("installed", "stale") and p.get("subnet"):
                if p["subnet"] in seen or p["subnet"] == info["subnet"]:
                    return "subnet-unique", (f"{h} routes {p['subnet']} to {p['address']} "
                                             f"and {seen.get(p['subnet'], 'itself')}")
                seen[p["subnet"]] = p["address"]
        addrs = [st["node"]["bridge_ip"]] + [n["ip"] for n in st["namespaces"]] + \
            [a["ip"] for a in st["attachments"]]
        dup = sorted(a for a in set(addrs) if addrs.count(a) > 1)
        if dup:
            return "address-unique", f"{h}: {dup} given twice: {addrs}"
        with self.lock:
            want_ns = {"NS1", "NS2"} | self.extra_ns[h]
            want_cont = dict(self.containers[h])
        have_ns = {n["name"] for n in st["namespaces"]}
        if have_ns != want_ns:
            return "leak-namespace", (f"{h}: agent has namespaces {sorted(have_ns)}, "
                                      f"want {sorted(want_ns)}")
        have_att = {a["container_id"] for a in st["attachments"]}
        if have_att != set(want_cont):
            return "leak-attachment", (f"{h}: attachments {sorted(have_att)}, "
                                       f"want {sorted(want_cont)}")
        want_netns = want_ns | set(want_cont.values())
        if set(snap["netns"]) != want_netns:
            return "leak-netns", (f"{h}: /run/netns has {snap['netns']}, "
                                  f"want {sorted(want_netns)}")
        if len(snap["veths"]) != len(want_ns) + len(want_cont):
            return "leak-veth", (f"{h}: veths {sorted(snap['veths'])}, want "
                                 f"{len(want_ns) + len(want_cont)} (namespaces + containers)")
        base = self.nft_base.get(h)
        if base is not None and snap["nft_rules"] != base:
            return "leak-nft", f"{h}: table inet nsagent has {snap['nft_rules']} rules, had {base}"
        return None

    def persistent(self, key, bad, now, final):
        """True when a condition that may hold for a moment (a transient
        connection, a scrape racing a route change) has held for BOUND
        seconds, or holds at the final check."""
        if not bad:
            self.bad_since.pop(key, None)
            return False
        since = self.bad_since.setdefault(key, now)
        return final or now - since > BOUND

    def check_round(self, warm=False, final=False):
        """One pass over every invariant. warm: before the first fault,
        returns whether the cluster is whole, and violates nothing. Each
        step returns False once it has called violate()."""
        now = self.now()
        with self.lock:
            busy = set(self.busy)
            down = set(self.down_hosts)
            gone = dict(self.gone)
            touched = dict(self.touched)
        if not self.check_agents(now, down):
            return False
        watch = [h for h in self.hosts if h not in busy and h not in down]
        snaps = {h: s for h, s in self.snapshot(watch).items() if s and s["status"]}
        # A fault that began while the snapshot was taken (even one over by
        # now, as a hand-deletion is) may show in it: that host is left out.
        with self.lock:
            for h in list(snaps):
                if h in self.busy or self.touched[h] != touched.get(h, 0):
                    del snaps[h]
        if not self.check_cluster(now, snaps, gone):
            return False
        settled = {h for h in snaps if h not in gone}
        healthy = self.check_hosts(now, snaps, settled, warm, final)
        if healthy is None:
            return False
        bad_pairs = self.check_pairs(now, snaps, settled, warm, final)
        if bad_pairs is None:
            return False
        self.note_heals(now, healthy, bad_pairs)
        if warm:
            whole = len(snaps) == len(self.hosts) and not bad_pairs and all(healthy.values())
            if whole:
                for h, s in snaps.items():
                    self.nft_base[h] = s["nft_rules"]
                    self.fd_base[h] = proc_sample(s["status"]["pid"])[0]
            return whole
        self.ping_check(final)
        return True

    def check_agents(self, now, down):
        """Every agent not stopped on purpose runs (a crash, a sanitizer
        halt), and none grows past its RSS bound; samples RSS and fds."""
        for h in self.hosts:
            if h in down:
                continue
            pid = self.lab.agent_pid(h)
            self.checks["agent-alive"] += 1
            if pid is None:
                with self.lock:
                    if h in self.down_hosts:
                        continue
                self.violate("agent-alive", f"{h}'s agent is not running (crashed?); "
                             f"see {h}.log in {self.out}")
                return False
            s = proc_sample(pid)
            if not s:
                continue
            fds, rss = s
            self.samples_fh.write(f"{now:.2f} {h} {pid} {rss} {fds}\n")
            first = self.rss_first.setdefault(pid, rss)
            self.checks["rss-bounded"] += 1
            if rss > first + RSS_SLACK_KB:
                self.violate("rss-bounded", f"{h} (pid {pid}): RSS {rss} kB, started at "
                             f"{first} kB (+{RSS_SLACK_KB} kB allowed)")
                return False
        self.samples_fh.flush()
        return True

    def check_cluster(self, now, snaps, gone):
        """No route to a node gone for good past its bound; no subnet held
        by two live nodes."""
        for g, since in gone.items():
            holders = [h for h, s in snaps.items()
                       if any(r["dst"] == self.info[g]["subnet"] for r in s["routes"])]
            self.checks["gone-route"] += 1
            if not holders:
                self.withdrawn.setdefault(g, now - since)
            elif now > since + GONE_BOUND:
                self.violate("gone-route", f"{', '.join(holders)} still route {g}'s "
                             f"{self.info[g]['subnet']} {now - since:.1f}s after it left "
                             f"(restart time {RESTART}s, bound {GONE_BOUND}s)")
                return False
        held = collections.defaultdict(list)
        for h, s in snaps.items():
            held[s["status"]["node"]["subnet"]].append(h)
        self.checks["subnet-unique"] += 1
        for sub, hs in held.items():
            if len(hs) > 1:
                self.violate("subnet-unique", f"{sub} held by {hs}")
                return False
        return True

    def check_hosts(self, now, snaps, settled, warm, final):
        """Each settled host's own state (host_local), fds and metrics;
        returns {host: healthy}, or None after a violation (a problem
        counts once the host's heal bound has passed)."""
        healthy = {}
        for h in sorted(settled):
            due = final or now > self.lastdist[h] + BOUND
            problem = self.host_local(h, snaps[h])
            self.checks["host-local"] += 1
            if problem is None:
                problem = self.host_counts(h, snaps[h], now, final)
            healthy[h] = problem is None
            if problem and due and not warm:
                self.violate(problem[0], problem[1] + f" ({now - self.lastdist[h]:.1f}s after "
                             f"its last fault, bound {BOUND}s)")
                return None
        return healthy

    def host_counts(self, h, snap, now, final):
        """fds against the host's baseline, /metrics against the kernel:
        both may be off for a moment (a connection being replaced, a scrape
        racing a route change), so only a lasting difference counts."""
        pid = snap["status"]["pid"]
        s = proc_sample(pid)
        base = self.fd_base.get(h)
        if s and base is not None:
            self.checks["fd-bounded"] += 1
            if self.persistent(("fd", h), s[0] > base + FD_SLACK, now, final):
                return ("leak-fd", f"{h} (pid {pid}) has {s[0]} fds, had {base} "
                        f"with the same peers (+{FD_SLACK} allowed)")
        m = snap["metrics"]
        if m:
            routed = (m.get('nsagent_routes{state="installed"}', -1)
                      + m.get('nsagent_routes{state="stale"}', -1))
            self.checks["metrics"] += 1
            if self.persistent(("metrics", h), int(routed) != len(snap["routes"]), now, final):
                return ("metrics", f"{h}: /metrics counts {int(routed)} routes (installed + "
                        f"stale), the kernel has {len(snap['routes'])}")
        return None

    def check_pairs(self, now, snaps, settled, warm, final):
        """Every settled pair: right routes, sessions and probes both ways,
        once the later of their last faults is a bound old. Returns the
        hosts of pairs not (yet) right, or None after a violation."""
        bad_pairs = set()
        ordered = sorted(settled, key=lambda x: int(x[4:]))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                self.checks["pair"] += 1
                why = self.pair_ok(a, b, snaps) or self.pair_ok(b, a, snaps)
                if not why:
                    continue
                bad_pairs.update((a, b))
                last = max(self.lastdist[a], self.lastdist[b])
                if not warm and (final or now > last + BOUND):
                    self.violate("heal", why + f" ({now - last:.1f}s after the last fault "
                                 f"on {a} or {b}, bound {BOUND}s)")
                    return None
        return bad_pairs

    def note_heals(self, now, healthy, bad_pairs):
        """A fault has healed when its hosts are fine locally and with
        every settled peer in a round that began after it ended."""
        with self.lock:
            for fid, r in self.faults.items():
                if r["state"] != "healing" or r["end"] > now:
                    continue
                if all(healthy.get(h) and h not in bad_pairs for h in r["plan"]["hosts"]):
                    r["heal"] = now - r["end"]
                    r["state"] = "healed"
                    self.log("healed", id=fid, kind=r["plan"]["kind"],
                             seconds=round(r["heal"], 2))

    def ping_check(self, final=False):
        seqs = self.ping_received()
        self.checks["ping-stream"] += 1
        if not seqs:
            if self.now() > self.ping_started + BOUND:
                self.violate("ping-stream", "host1 NS1 got no reply at all from host2 NS1")
            return
        top = max(seqs)
        # A reply may lag: only seqs well behind the newest one count.
        horizon = top if final else top - int(10 / PING_INTERVAL)
        lost = [s for s in range(1, horizon + 1) if s not in seqs]
        if lost:
            self.violate("ping-stream", f"host1 NS1 -> host2 NS1 ({self.ping_target}): "
                         f"{len(lost)} lost, first icmp_seq={lost[0]} (about "
                         f"{self.ping_started + lost[0] * PING_INTERVAL:.1f}s)")

    def checker(self):
        while not self.stop_event.is_set() and not self.checks_done.is_set():
            self.check_round()
            self.checks_done.wait(1.0)
