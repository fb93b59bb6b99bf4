# SPDX-License-Identifier: GPL-2.0-or-later
"""The soak's schedule (tests/soak/run): the agents' timers, the bounds
derived from them, and the fault plan, a pure function of (seed, duration,
hosts) so that a run replays from its seed. Nothing here touches the lab."""

import random

# The agents' timers: short enough that a 60 s soak sees sessions expire
# and a node leave for good, and every deadline below is derived from them.
HOLD = 3  # --hold-time
RESTART = 15  # --restart-time
RETRY_MAX = 4  # --connect-retry-max
PROBE = 1  # --probe-interval
# The documented heal bound (issue 18: hold time + restart time + a margin),
# plus the longest reconnect delay, since a session comes back only at the
# next dial. The margin is generous: 2 shared cores run 16 ASan agents.
MARGIN = 25
BOUND = HOLD + RESTART + RETRY_MAX + MARGIN
# A node that left for good: its routes must be gone past its restart time.
GONE_BOUND = RESTART + 10
AGENT_FLAGS = [
    f"--hold-time={HOLD}s", f"--restart-time={RESTART}s",
    f"--connect-retry-max={RETRY_MAX}s", f"--probe-interval={PROBE}s",
    "--metrics=127.0.0.1:9470",
]
KINDS = ("kill", "term", "stop", "link", "partition", "loss", "ns", "container",
         "reload", "handdel", "down")


def make_plan(seed, duration, hosts):
    """The fault schedule: (seed, duration, hosts) -> list of faults, with
    every random choice made here so that a replay injects the same faults.
    The first faults cycle through every kind once (in a seeded order), so
    a short run still meets each of them. Targets are chosen among hosts the
    plan expects to be free (their last fault over and a rest after it, so
    that its heal can be seen); faults on different hosts overlap freely."""
    rng = random.Random(seed)
    victims = [f"host{i}" for i in range(3, hosts + 1)]
    free_at = {h: 0.0 for h in victims}
    kinds = list(KINDS)
    rng.shuffle(kinds)
    plan, t, n, down_for_good = [], rng.uniform(1, 3), 0, False
    while t < duration:
        free = [h for h in victims if free_at[h] <= t]
        if not free:
            t = min(free_at.values())
            continue
        kind = kinds[n] if n < len(kinds) else rng.choice(KINDS)
        if kind == "partition" and len(victims) >= 3 and len(free) < 2:
            t = sorted(free_at.values())[1]  # until a second host is free
            continue
        f = {"id": n + 1, "at": round(t, 2), "kind": kind}
        if kind == "partition" and len(victims) >= 3:
            f["hosts"] = sorted(rng.sample(free, rng.randint(2, min(3, len(free),
                                                                  len(victims) - 1))),
                                key=lambda h: int(h[4:]))
        else:
            if kind == "partition":
                kind = f["kind"] = "link"
            f["hosts"] = [rng.choice(free)]
        if kind in ("kill", "term"):
            f["hold"] = round(rng.uniform(0.5, 4), 2)
        elif kind == "stop":
            f["hold"] = round(HOLD + rng.uniform(1, 5), 2)
        elif kind in ("link", "partition"):
            f["hold"] = round(rng.uniform(2, 12), 2)
        elif kind == "loss":
            f["hold"] = round(rng.uniform(3, 12), 2)
            f["percent"] = rng.choice((5, 10, 20, 30))
        elif kind in ("ns", "container"):
            f["hold"] = round(rng.uniform(2, 15), 2)
        elif kind == "reload":
            f["log_level"] = rng.choice(("info", "warn"))
            f["probe_interval"] = rng.choice(("1s", "2s"))
        elif kind == "handdel":
            f["what"] = rng.choice(("route", "link", "vxlan", "nft-rule", "nft-table"))
            f["pick"] = rng.randint(0, 1 << 16)
        elif kind == "down":
            # The first is for good (past the restart time, so the cluster
            # must withdraw the node's routes); later ones are quick rejoins.
            if not down_for_good and t + GONE_BOUND + 10 < duration + BOUND:
                f["hold"] = GONE_BOUND + 5
                down_for_good = True
            else:
                f["hold"] = round(rng.uniform(1, 8), 2)
        # How long the fault keeps its hosts, as the plan expects it (an
        # agent start under ASan takes a few seconds), then a rest.
        busy = f.get("hold", 0) + (6 if kind in ("kill", "term", "down") else 2)
        for h in f["hosts"]:
            free_at[h] = t + busy + rng.uniform(2, 10)
        plan.append(f)
        n += 1
        t += rng.uniform(1.0, 4.0)
    return plan


def plan_text(f):
    extra = {k: v for k, v in f.items() if k not in ("id", "at", "kind", "hosts")}
    return (f"#{f['id']} t={f['at']:.2f}s {f['kind']} {','.join(f['hosts'])}"
            + "".join(f" {k}={v}" for k, v in sorted(extra.items())))
