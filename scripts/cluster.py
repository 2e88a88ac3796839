#!/usr/bin/env python3
"""Calls through a cluster, measured: a redis-server and NODES `confab serve` nodes on
loopback; ROOMS rooms of PARTICIPANTS confab-load participants each, one after another, every
one asked for through node a (so a room placed elsewhere has its signaling relayed through a).
For each room: the node that hosted it, join and first-audio times, mix delivered. Prints a
table and writes OUT.json.

    scripts/cluster.py --confab target/release/confab --load target/release/confab-load
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    sys.exit(f"cluster.py: {what} did not happen within {seconds} s")


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def get_json(url, admin_key):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {admin_key}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.load(r)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--confab", required=True)
    p.add_argument("--load", required=True)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--rooms", type=int, default=3)
    p.add_argument("--participants", type=int, default=100)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--out", default="docs/cluster")
    args = p.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("cluster.py: redis-server is missing (scripts/install-deps.sh installs it)")

    work = tempfile.mkdtemp(prefix="confab-cluster-")
    procs = []
    try:
        redis_port = free_port()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: listening(redis_port), "redis-server listening")
        redis_url = f"redis://127.0.0.1:{redis_port}"
        nodes = []
        for i in range(args.nodes):
            node_id = chr(ord("a") + i)
            http = f"127.0.0.1:{free_port()}"
            data = os.path.join(work, node_id)
            log = open(os.path.join(work, f"{node_id}.log"), "w")
            procs.append(subprocess.Popen(
                [args.confab, "serve", "--http", http, "--media-udp", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
                 "--data-dir", data, "--redis", redis_url, "--node-id", node_id, "--no-echo"],
                stdout=subprocess.DEVNULL, stderr=log))
            wait_for(lambda: http_ok(f"http://{http}/healthz"), f"node {node_id} serving")
            nodes.append({"id": node_id, "url": f"http://{http}", "data": data})
        admin_key = json.load(open(os.path.join(nodes[0]["data"], "secrets.json")))["admin_key"]
        print(f"{args.nodes} nodes on {redis_url}; {args.rooms} rooms of {args.participants} through node a", file=sys.stderr)

        rooms = []
        for room in range(args.rooms):
            ready = os.path.join(work, f"ready-{room}")
            report_path = os.path.join(work, f"room-{room}.json")
            load = subprocess.Popen(
                [args.load, "--url", nodes[0]["url"], "--participants", str(args.participants),
                 "--seconds", str(args.seconds), "--data-dir", nodes[0]["data"], "--json", report_path,
                 "--ready-file", ready],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: os.path.exists(ready) or load.poll() is not None, f"room {room} ready", 120)
            time.sleep(1.5)  # a heartbeat or so: the nodes' records show the room
            view = get_json(f"{nodes[0]['url']}/v1/nodes", admin_key)
            host = max(view["nodes"], key=lambda n: n["participants"])
            out, err = load.communicate()
            if load.returncode != 0:
                sys.exit(f"cluster.py: confab-load failed:\n{out}\n{err}")
            summary = json.load(open(report_path))["summary"]
            rooms.append({
                "room": room,
                "host": host["id"],
                "relayed": host["id"] != "a",
                "host_participants": host["participants"],
                "host_cpu_percent": host["cpu_percent"],
                "join_ms": summary["join_ms"],
                "first_audio_ms": summary["first_audio_ms"],
                "mix_delivered": summary["mix_delivered"],
                "mix_lost": summary["mix_lost"],
            })
            r = rooms[-1]
            print(f"room {room}: on node {r['host']} ({'relayed through a' if r['relayed'] else 'direct'}), "
                  f"{r['host_participants']} participants, node CPU {r['host_cpu_percent']} %; media up p50 "
                  f"{r['join_ms']['p50']} ms p95 {r['join_ms']['p95']} ms; first audio p50 "
                  f"{r['first_audio_ms']['p50']} ms p95 {r['first_audio_ms']['p95']} ms; mix delivered "
                  f"{r['mix_delivered'] * 100:.2f} %", file=sys.stderr)
        result = {
            "machine": os.uname().nodename + f", {os.cpu_count()} CPUs",
            "nodes": args.nodes,
            "participants": args.participants,
            "seconds": args.seconds,
            "rooms": rooms,
        }
        with open(f"{args.out}.json", "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.out}.json", file=sys.stderr)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
