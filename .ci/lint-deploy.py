#!/usr/bin/env python3
"""Lints Deploy/: YAML parses, Kubernetes objects have what the cluster needs, compose has PostgreSQL and two
replicas, the systemd unit passes `systemd-analyze verify`. Exit 1 naming each problem."""
import os, shutil, subprocess, sys, tempfile
import yaml

root = os.path.join(os.path.dirname(__file__), "..", "Deploy")
problems = []

def load(name):
    with open(os.path.join(root, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

k8s = load("kubernetes.yaml")
kinds = {d.get("kind"): d for d in k8s}
for d in k8s:
    for key in ("apiVersion", "kind", "metadata"):
        if key not in d: problems.append(f"kubernetes.yaml: {d.get('kind')} lacks {key}")
for kind in ("Deployment", "Service", "Secret", "PodDisruptionBudget"):
    if kind not in kinds: problems.append(f"kubernetes.yaml: no {kind}")
deployment = kinds.get("Deployment", {})
container = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0]
if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz": problems.append("liveness probe is not /healthz")
if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz": problems.append("readiness probe is not /readyz")
selector = deployment.get("spec", {}).get("selector", {}).get("matchLabels")
if selector != deployment.get("spec", {}).get("template", {}).get("metadata", {}).get("labels"): problems.append("selector does not match pod labels")
if kinds.get("PodDisruptionBudget", {}).get("spec", {}).get("selector", {}).get("matchLabels") != selector: problems.append("PDB selector does not match")

compose = load("compose.yaml")[0]
services = compose.get("services", {})
if "postgres" not in services: problems.append("compose.yaml: no postgres service")
replicas = [s for s in services if s.startswith("airlock")]
if len(replicas) < 2: problems.append("compose.yaml: fewer than two airlock replicas")
for name in replicas:
    env = services[name].get("environment", {})
    if not str(env.get("AIRLOCK_DATABASE", "")).startswith("postgres://"): problems.append(f"compose.yaml: {name} is not on PostgreSQL")

load("airlock.example.yaml")

if shutil.which("systemd-analyze"):
    with tempfile.TemporaryDirectory() as tmp:
        unit = open(os.path.join(root, "airlock.service")).read().replace("/usr/local/bin/airlock", "/bin/true")
        path = os.path.join(tmp, "airlock.service")
        open(path, "w").write(unit)
        result = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
        noise = [l for l in result.stderr.splitlines() if l.strip() and "airlock.service" in l and "User=" not in l and "Group=" not in l]
        if noise: problems.extend("airlock.service: " + l for l in noise)
else:
    print("systemd-analyze not found: unit not verified")

for problem in problems: print(problem)
print(f"Deploy/ lint: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
