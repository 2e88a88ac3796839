#!/usr/bin/env python3
"""Capacity of one `confab serve`, measured with `confab-load` from a separate process.

For each room size: a fresh service (release build), one group call of N participants (3
speaking, the rest in DTX, 5 decoding what they hear), joined at `--ramp` per second; once
everyone is in and media has settled, the service's CPU (per thread), memory and counters
are sampled over the steady-state window. Writes results JSON, a markdown table and a PNG
plot. Run through scripts/capacity.sh.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_ticks(pid):
    """utime + stime of a process, and of each of its threads by name."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = int(fields[11]) + int(fields[12])
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                tf = f.read().rsplit(")", 1)[1].split()
            threads[name] = threads.get(name, 0) + int(tf[11]) + int(tf[12])
        except OSError:
            pass
    return total, threads


def rss_kib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE // 1024


def metrics(http):
    text = urllib.request.urlopen(f"http://{http}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def quantile_ms(m0, m1, name, q):
    """The q quantile (bucket upper bound, ms) of histogram `name` between two scrapes."""
    prefix = name + '_bucket{le="'
    bounds = sorted((float(k[len(prefix):-2]), m1[k] - m0.get(k, 0))
                    for k in m1 if k.startswith(prefix) and "+Inf" not in k)
    total = m1.get(name + "_count", 0) - m0.get(name + "_count", 0)
    if not total:
        return None
    for le, cumulative in bounds:
        if cumulative >= q * total:
            return round(le * 1000)
    return None


def wait_http(http, deadline=20):
    end = time.time() + deadline
    while time.time() < end:
        try:
            urllib.request.urlopen(f"http://{http}/healthz", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the service did not come up")


def run_size(args, n, seconds, base_port):
    work = tempfile.mkdtemp(prefix=f"confab-capacity-{n}-")
    http = f"127.0.0.1:{base_port}"
    serve = subprocess.Popen(
        [args.confab, "serve", "--data-dir", f"{work}/data", "--http", http,
         "--media-udp", f"127.0.0.1:{base_port + 1}", "--no-echo"],
        stdout=subprocess.DEVNULL, stderr=open(f"{work}/serve.log", "w"),
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        wait_http(http)
        idle_rss = rss_kib(serve.pid)
        ready = f"{work}/ready"
        report = f"{work}/load.json"
        load = subprocess.Popen(
            [args.load, "--url", f"http://{http}", "--data-dir", f"{work}/data",
             "--participants", str(n), "--speakers", "3", "--decode", "5",
             "--seconds", str(seconds), "--ramp", str(args.ramp), "--threads", "2",
             "--ready-file", ready, "--json", report],
            stdout=open(f"{work}/load.log", "w"), stderr=subprocess.STDOUT,
        )
        while not os.path.exists(ready):
            if load.poll() is not None:
                raise RuntimeError(f"confab-load ended early: {open(work + '/load.log').read()}")
            time.sleep(0.05)
        t0 = time.time()
        c0, th0 = cpu_ticks(serve.pid)
        l0, _ = cpu_ticks(load.pid)
        m0 = metrics(http)
        # Steady state: until 2 s before the load tool leaves.
        window = max(1.0, seconds - 2 - 2.5)
        time.sleep(window)
        c1, th1 = cpu_ticks(serve.pid)
        l1, _ = cpu_ticks(load.pid)
        m1 = metrics(http)
        t1 = time.time()
        rss = rss_kib(serve.pid)
        load.wait()
        summary = json.load(open(report))["summary"]
        elapsed = t1 - t0
        cpu = (c1 - c0) / CLK / elapsed
        threads = {name: round((th1.get(name, 0) - th0.get(name, 0)) / CLK / elapsed, 4)
                   for name in th1 if th1.get(name, 0) - th0.get(name, 0) > 0}
        sent = m1.get("confab_media_datagrams_sent_total", 0) - m0.get("confab_media_datagrams_sent_total", 0)
        received = m1.get("confab_media_datagrams_received_total", 0) - m0.get("confab_media_datagrams_received_total", 0)
        ticks = m1.get("confab_mixer_tick_seconds_count", 0) - m0.get("confab_mixer_tick_seconds_count", 0)
        tick_sum = m1.get("confab_mixer_tick_seconds_sum", 0) - m0.get("confab_mixer_tick_seconds_sum", 0)
        return {
            "participants": n,
            "seconds_measured": round(elapsed, 1),
            "service_cpu_cores": round(cpu, 4),
            "cpu_per_participant_pct": round(100 * cpu / n, 4),
            "threads_cores": threads,
            "load_tool_cpu_cores": round((l1 - l0) / CLK / elapsed, 3),
            "rss_mib": round(rss / 1024, 1),
            "rss_per_participant_kib": round((rss - idle_rss) / n, 1),
            "datagrams_out_per_s": round(sent / elapsed),
            "datagrams_in_per_s": round(received / elapsed),
            "mixer_tick_ms": round(1000 * tick_sum / ticks, 3) if ticks else None,
            # Inside the service, per mixed frame (steady state): arrival to the tick that
            # plays it, and tick to socket.
            "mix_wait_ms": {"p50": quantile_ms(m0, m1, "confab_mix_jitter_wait_seconds", 0.5),
                            "p99": quantile_ms(m0, m1, "confab_mix_jitter_wait_seconds", 0.99)},
            "mix_out_ms": {"p50": quantile_ms(m0, m1, "confab_mix_out_seconds", 0.5),
                           "p99": quantile_ms(m0, m1, "confab_mix_out_seconds", 0.99)},
            "tick_overruns": m1.get("confab_media_tick_overruns_total", 0),
            "tick_overruns_steady": m1.get("confab_media_tick_overruns_total", 0)
            - m0.get("confab_media_tick_overruns_total", 0),
            "joined": summary["joined"],
            "join_ms": summary["join_ms"],
            "first_audio_ms": summary["first_audio_ms"],
            "mix_delivered_pct": round(100 * summary["mix_delivered"], 3),
            "mix_lost": summary["mix_lost"],
            "mix_late": summary["mix_late"],
            "decoding_sample_loud_pct": round(100 * summary["loud_fraction"], 1),
            "decode_errors": summary["decode_errors"],
        }
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            serve.kill()


def table(results):
    lines = [
        "| participants | service CPU (cores) | per participant | I/O thread | mixer threads | RSS (MiB) | per participant | packets out/s | mix delivered | lost | late | tick overruns | mixer tick | in the service: jitter wait / tick → socket, p50 / p99 | join → first audio p50 / p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        io = r["threads_cores"].get("confab-media-pl", 0)
        mix = sum(v for k, v in r["threads_cores"].items() if k.startswith("confab-media-") and not k.startswith("confab-media-pl"))
        fa = r["first_audio_ms"] or {}
        w, o = r.get("mix_wait_ms") or {}, r.get("mix_out_ms") or {}
        lines.append(
            f"| {r['participants']} | {r['service_cpu_cores']:.3f} | {r['cpu_per_participant_pct']:.3f} % "
            f"| {io:.3f} | {mix:.3f} | {r['rss_mib']} | {r['rss_per_participant_kib']} KiB "
            f"| {r['datagrams_out_per_s']} | {r['mix_delivered_pct']} % | {r['mix_lost']} | {r['mix_late']} "
            f"| {int(r['tick_overruns'])} | {r['mixer_tick_ms']} ms "
            f"| {w.get('p50')} / {w.get('p99')} ms; {o.get('p50')} / {o.get('p99')} ms "
            f"| {fa.get('p50')} / {fa.get('p95')} ms |"
        )
    return "\n".join(lines)


def slope(xs, ys):
    """Least-squares slope of ys over xs."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def marginal(results):
    """What one more participant costs, from the least-squares slope over the room sizes:
    CPU per participant (service, and its media I/O thread alone) and the listeners one core
    holds at that rate."""
    if len(results) < 2:
        return None
    n = [r["participants"] for r in results]
    service = slope(n, [r["service_cpu_cores"] for r in results])
    io = slope(n, [r["threads_cores"].get("confab-media-pl", 0) for r in results])
    return {
        "cpu_per_participant_pct": round(100 * service, 4),
        "listeners_per_core": round(1 / service) if service > 0 else None,
        "io_thread_per_participant_pct": round(100 * io, 4),
        "io_thread_listeners_per_core": round(1 / io) if io > 0 else None,
    }


def plot(results, path):
    try:
        import matplotlib
    except ImportError:
        print("no plot: matplotlib is missing (scripts/capacity.sh installs it)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = [r["participants"] for r in results]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(n, [100 * r["service_cpu_cores"] for r in results], "o-", label="service CPU (% of one core)")
    ax1.plot(n, [100 * r["threads_cores"].get("confab-media-pl", 0) for r in results], "s--", label="media I/O thread")
    ax1.set_xlabel("participants in one room (3 speaking)")
    ax1.set_ylabel("% of one core")
    ax2 = ax1.twinx()
    ax2.plot(n, [r["rss_mib"] for r in results], "^:", color="gray", label="RSS (MiB)")
    ax2.set_ylabel("MiB")
    lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax1.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax1.legend(lines, labels, loc="upper left")
    ax1.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--confab", required=True)
    p.add_argument("--load", required=True)
    p.add_argument("--sizes", default="10,50,100,200,350")
    p.add_argument("--seconds", type=int, default=30, help="per size")
    p.add_argument("--long", type=int, default=0, help="seconds for the largest size (e.g. 300)")
    p.add_argument("--ramp", type=float, default=50)
    p.add_argument("--out", default="docs/capacity")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for i, n in enumerate(sizes):
        seconds = args.long if (args.long and n == max(sizes)) else args.seconds
        print(f"capacity: {n} participants for {seconds} s ...", flush=True)
        r = run_size(args, n, seconds, 18400 + 10 * i)
        print(f"  service {r['service_cpu_cores']:.3f} cores ({r['cpu_per_participant_pct']:.3f} % each), "
              f"{r['rss_mib']} MiB, mix delivered {r['mix_delivered_pct']} %, {r['mix_lost']} lost, "
              f"{r['mix_late']} late, {int(r['tick_overruns'])} overruns", flush=True)
        results.append(r)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "date": time.strftime("%Y-%m-%d"),
    }
    margin = marginal(results)
    json.dump({"machine": machine, "results": results, "marginal": margin},
              open(f"{args.out}.json", "w"), indent=2)
    summary = ""
    if margin:
        summary = (f"\nMarginal cost (least squares over {len(results)} sizes): "
                   f"{margin['cpu_per_participant_pct']} % of a core per participant, "
                   f"**{margin['listeners_per_core']} listeners per core** "
                   f"(media I/O thread alone: {margin['io_thread_listeners_per_core']}).\n")
    open(f"{args.out}-table.md", "w").write(table(results) + "\n" + summary)
    plot(results, f"{args.out}.png")
    print(table(results))
    print(summary)
    print(f"written: {args.out}.json, {args.out}-table.md, {args.out}.png")


if __name__ == "__main__":
    sys.exit(main())
