"""A real one-node Kubernetes cluster on this machine, offline: containerd + runc + CNI bridge from Debian,
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and CoreDNS built from the
Go module proxy, every image built here (tests/peers/images.py).

Facts this is built on (see docs/testing.md): no systemd, so every daemon is a child process; cgroup v1 with
the cgroupfs driver (kubelet needs failCgroupV1: false); CAP_SYS_RESOURCE is not in the bounding set, so
containerd must clamp oom_score_adj (restrict_oom_score_adj). Pods live in 198.18.0.0/16, Services in
198.19.0.0/16; pod traffic may not leave the machine (a FORWARD DROP rule), and the API server's and kubelet's
ports are closed to the outside interface (an INPUT DROP rule). Only one cluster runs at a time on a machine
(a file lock): /var/log/pods, cni0 and the iptables chains are machine-wide.

stop() restores what start() changed: processes, mounts, network namespaces, cni0, iptables rules, sysctls,
cgroups, /var/log/pods, /var/log/containers and /var/lib/observe (removed when they did not exist before).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from tests.peers import debian, gobuild, images, kube
from tests.peers.base import CACHE, Peer, PeerError, cache_dir, free_port, start_process, wait_ready

VERSION = kube.VERSION
COREDNS_VERSION = "v1.15.0"
INSTALL_ORDER = 45

PACKAGES = {"containerd": "containerd", "runc": "runc", "/usr/lib/cni/bridge": "containernetworking-plugins",
            "iptables": "iptables", "conntrack": "conntrack", "openssl": "openssl", **images.PACKAGES}

POD_CIDR = "198.18.0.0/16"
NODE_POD_CIDR = "198.18.0.0/24"
SERVICE_CIDR = "198.19.0.0/16"
API_VIP = "198.19.0.1"
DNS_VIP = "198.19.0.10"
# Small on purpose: the rotation test makes the real kubelet rotate within seconds.
CONTAINER_LOG_MAX_SIZE = "1Mi"
CONTAINER_LOG_MAX_FILES = 3
COMMENT = "observe-node-peer"
# Host folders the cluster writes outside its workdir (kubelet, the chart's hostPath).
HOST_DIRS = (Path("/var/log/pods"), Path("/var/log/containers"), Path("/var/lib/observe"))
SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "vm.panic_on_oom",
           "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.ipv4.ip_forward")
LOCK = Path("/run/observe-node-peer.lock")
# What a running cluster changed, so the next start can undo it if this session was killed before stop().
RECORD = Path("/run/observe-node-peer.json")
DAEMONS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")


def coredns_binary() -> Path:
    return gobuild.build("coredns", COREDNS_VERSION, "github.com/coredns/coredns", module="github.com/coredns/coredns")


def install() -> None:
    """Debian packages, the Kubernetes binaries, CoreDNS and the base images (idempotent: seconds when cached)."""
    debian.apt_install(PACKAGES)
    for name in ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl"):
        kube.kube_binary(name)
    kube.etcd_binary()
    coredns_binary()
    images.pause()
    images.python()
    images.scratch_binary("coredns", coredns_binary(), "/coredns")


def node_address() -> tuple[str, str]:
    """(IPv4 address, interface) of the default route: the node IP, and the interface pods may not leave by."""
    out = subprocess.run(["ip", "-4", "route", "get", "1"], capture_output=True, text=True)
    src = re.search(r"\bsrc (\S+)", out.stdout)
    dev = re.search(r"\bdev (\S+)", out.stdout)
    if out.returncode != 0 or not src or not dev:
        raise PeerError(f"no IPv4 default route to take the node IP from: {out.stdout}{out.stderr}")
    return src.group(1), dev.group(1)


def sh(argv: Sequence[str | Path], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise PeerError(f"{' '.join(map(str, argv))} failed ({out.returncode}): {(out.stdout + out.stderr)[-3000:]}")
    return out


# --- PKI -------------------------------------------------------------------------------------------------------

def _openssl(*args: str | Path) -> None:
    sh(["openssl", *args])


def make_pki(pki: Path, node: str, node_ip: str) -> None:
    """A CA, the service-account key, and the serving and client certificates of every component (EC P-256)."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", pki / "ca.key")
    _openssl("req", "-x509", "-new", "-key", pki / "ca.key", "-sha256", "-days", "30", "-subj", "/CN=observe-node-ca",
             "-out", pki / "ca.crt")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", pki / "sa.key")
    _openssl("ec", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")
    api_sans = ",".join([*(f"DNS:{d}" for d in ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                                "kubernetes.default.svc.cluster.local", "localhost", node)),
                         "IP:127.0.0.1", f"IP:{node_ip}", f"IP:{API_VIP}"])
    certs = [
        ("apiserver", "/CN=kube-apiserver", "serverAuth", api_sans),
        ("apiserver-kubelet-client", "/CN=kube-apiserver-kubelet-client/O=system:masters", "clientAuth", ""),
        ("admin", "/CN=observe-admin/O=system:masters", "clientAuth", ""),
        ("controller-manager", "/CN=system:kube-controller-manager", "clientAuth", ""),
        ("scheduler", "/CN=system:kube-scheduler", "clientAuth", ""),
        ("kube-proxy", "/CN=system:kube-proxy", "clientAuth", ""),
        ("kubelet", f"/CN=system:node:{node}/O=system:nodes", "clientAuth", ""),
        ("kubelet-serving", f"/CN=system:node:{node}/O=system:nodes", "serverAuth",
         f"DNS:{node},DNS:localhost,IP:127.0.0.1,IP:{node_ip}"),
    ]
    for name, subject, usage, sans in certs:
        key, csr, ext = pki / f"{name}.key", pki / f"{name}.csr", pki / f"{name}.ext"
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
        _openssl("req", "-new", "-key", key, "-subj", subject, "-out", csr)
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                       f"extendedKeyUsage={usage}\n" + (f"subjectAltName={sans}\n" if sans else ""))
        _openssl("x509", "-req", "-in", csr, "-CA", pki / "ca.crt", "-CAkey", pki / "ca.key", "-CAcreateserial",
                 "-days", "30", "-sha256", "-extfile", ext, "-out", pki / f"{name}.crt")
        csr.unlink()
        ext.unlink()
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def kubeconfig(path: Path, server: str, ca: Path, *, cert: Path | None = None, key: Path | None = None,
               token: str | None = None) -> Path:
    user: dict[str, str] = {"token": token} if token else {"client-certificate": str(cert), "client-key": str(key)}
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "node",
        "clusters": [{"name": "node", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "node", "context": {"cluster": "node", "user": "user"}}],
    }, indent=2))
    path.chmod(0o600)
    return path


# --- configs ---------------------------------------------------------------------------------------------------

def containerd_config(work: Path, state_root: Path, sandbox_image: str) -> str:
    return f"""version = 2
root = "{state_root}"
state = "{work / 'containerd-state'}"
[grpc]
  address = "{work / 'run' / 'containerd.sock'}"
[ttrpc]
  address = "{work / 'run' / 'containerd.sock.ttrpc'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  enable_selinux = false
  # CAP_SYS_RESOURCE is not in this machine's bounding set: nothing may lower oom_score_adj below its own,
  # so the sandbox's -998 and Guaranteed pods' -997 are clamped (without this every sandbox fails to start).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{shutil.which('runc') or '/usr/sbin/runc'}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{work / 'cni' / 'net.d'}"
"""


def cni_config(work: Path) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "observe-node", "plugins": [
        {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
         "ipam": {"type": "host-local", "dataDir": str(work / "cni" / "networks"),
                  "ranges": [[{"subnet": NODE_POD_CIDR, "gateway": "198.18.0.1"}]],
                  "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]}


def kubelet_config(work: Path, pki: Path, node_ip: str, healthz_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        # cgroup v1 host: kubelet >= 1.35 refuses to start on cgroup v1 unless told not to.
        "failCgroupV1": False, "failSwapOn": False, "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{work / 'run' / 'containerd.sock'}",
        "address": node_ip, "port": 10250, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": healthz_port,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"), "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "clusterDomain": "cluster.local", "clusterDNS": [DNS_VIP], "resolvConf": "/etc/resolv.conf",
        # The machine is shared: no eviction for a busy disk or a full page cache.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 99, "imageGCLowThresholdPercent": 98,
        "serializeImagePulls": False,
        "containerLogMaxSize": CONTAINER_LOG_MAX_SIZE, "containerLogMaxFiles": CONTAINER_LOG_MAX_FILES,
        "containerLogMonitorInterval": "3s",
        # Status reported quickly, so tests do not wait on the defaults' 10 s periods.
        "nodeStatusUpdateFrequency": "4s", "syncFrequency": "10s",
    }


def kube_proxy_config(pki: Path, node_ip: str, healthz: int, metrics: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(pki / "kube-proxy.kubeconfig")},
        "mode": "iptables", "clusterCIDR": POD_CIDR, "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{healthz}", "metricsBindAddress": f"127.0.0.1:{metrics}",
        "nodePortAddresses": [f"{node_ip}/32"],
        # Leave the host's conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


COREDNS_MANIFEST = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  # Cluster names only: no `forward`, so no query leaves the machine.
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 5
        loop
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      containers:
      - name: coredns
        image: IMAGE
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        - {containerPort: 53, name: dns-tcp, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}}
        resources: {requests: {cpu: 20m, memory: 32Mi}, limits: {memory: 128Mi}}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: DNS_VIP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
"""


# --- host state ------------------------------------------------------------------------------------------------

def _iptables(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return sh(["iptables", "-w", *args], check=check)


def _our_rules() -> list[list[str]]:
    """Our own rules (tagged with COMMENT), as -D argument lists."""
    found: list[list[str]] = []
    for chain in ("FORWARD", "INPUT"):
        out = _iptables("-S", chain)
        for line in out.stdout.splitlines():
            if COMMENT in line and line.startswith("-A "):
                found.append(["-D", *line.split()[1:]])
    return found


def _remove_kube_chains() -> None:
    """kube-proxy's and kubelet's KUBE-* chains and the jumps into them, IPv4 and IPv6."""
    for ipt in ("iptables", "ip6tables"):
        if not shutil.which(ipt):
            continue
        for table in ("filter", "nat", "mangle"):
            rules = sh([ipt, "-w", "-t", table, "-S"], check=False).stdout.splitlines()
            for line in rules:
                if line.startswith("-A ") and "-j KUBE-" in line and not line.startswith("-A KUBE-"):
                    sh([ipt, "-w", "-t", table, "-D", *_split_rule(line[3:])], check=False)
            chains = [ln.split()[1] for ln in rules if ln.startswith("-N KUBE-")]
            for chain in chains:
                sh([ipt, "-w", "-t", table, "-F", chain], check=False)
            for chain in chains:
                sh([ipt, "-w", "-t", table, "-X", chain], check=False)


def _split_rule(rule: str) -> list[str]:
    """iptables -S output back into arguments (quoted comments included)."""
    import shlex
    return shlex.split(rule)


def _mounts_under(prefixes: Sequence[str]) -> list[str]:
    points: list[str] = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if any(point == p or point.startswith(p.rstrip("/") + "/") for p in prefixes):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def _netns_mounts() -> list[str]:
    """The pod network namespaces the CNI plugins pinned under /run/netns."""
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith("/run/netns/cni-")]


class Forwarder:
    """A TCP forwarder from node_ip:port to 127.0.0.1:target: a loopback peer (Elasticsearch) made reachable from pods."""

    def __init__(self, listen_ip: str, target_port: int) -> None:
        self.target = target_port
        self.sock = socket.create_server((listen_ip, 0))
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name=f"forward-{self.port}").start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


class Cluster:
    """The running cluster: its daemons, addresses, admin credentials and helpers."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.node_ip, self.iface = node_address()
        self.node = socket.gethostname().lower()
        self.pki = work / "pki"
        self.run = work / "run"
        self.state = cache_dir("node", VERSION) / "containerd"
        self.peers: dict[str, Peer] = {}
        self.token = secrets.token_hex(16)
        self.api_port = free_port()
        self.url = f"https://{self.node_ip}:{self.api_port}"
        self.ctr = ["ctr", "--address", str(self.run / "containerd.sock"), "-n", "k8s.io"]
        self.forwarders: list[Forwarder] = []
        self._lock: IO[str] | None = None
        self._owner = False  # holds the lock: only then may stop() undo anything
        self._existed = {str(d): d.exists() for d in HOST_DIRS}
        self._sysctl: dict[str, str] = {}
        self.apiserver: Peer | None = None
        self.started_s = 0.0

    # --- start ---
    def start(self) -> None:
        t0 = time.monotonic()
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        self._lock = LOCK.open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Not ours: stop() must leave the running cluster's network, pods and record alone.
            self._lock.close()
            self._lock = None
            raise PeerError(f"another node cluster runs on this machine (lock {LOCK}); one at a time") from None
        self._owner = True
        if RECORD.exists():
            recover(json.loads(RECORD.read_text()))
        for stale in _orphaned_workdirs(self.work):
            # A cluster that died without its record (killed before start() wrote it, or a record removed by hand).
            recover({"work": str(stale), "pids": [], "sysctl": {}, "existed": {str(d): True for d in HOST_DIRS}})
        self._existed = {str(d): d.exists() for d in HOST_DIRS}
        for key in SYSCTLS:
            out = sh(["sysctl", "-n", key], check=False)
            if out.returncode == 0:
                self._sysctl[key] = out.stdout.strip()
        self._save_record()
        for d in (self.run, self.work / "cni" / "net.d", self.work / "cni" / "networks", self.work / "kubelet",
                  self.state):
            d.mkdir(parents=True, exist_ok=True)
        make_pki(self.pki, self.node, self.node_ip)
        # Pods may not talk to anything off this machine; our ports are not open to the outside interface.
        _iptables("-I", "FORWARD", "-s", POD_CIDR, "-o", self.iface, "-m", "comment", "--comment", COMMENT,
                  "-j", "DROP", check=True)
        _iptables("-I", "INPUT", "-i", self.iface, "-p", "tcp", "-m", "multiport", "--dports",
                  f"{self.api_port},10250", "-m", "comment", "--comment", COMMENT, "-j", "DROP", check=True)
        pause = images.pause()
        self._containerd(pause.ref)
        self.import_image(pause)
        self._control_plane()
        self._node()
        self.started_s = time.monotonic() - t0

    def _daemon(self, name: str, argv: Sequence[str | Path]) -> Peer:
        peer = start_process(name, argv, self.work / "logs")
        self.peers[name] = peer
        self._save_record()
        return peer

    def _save_record(self) -> None:
        RECORD.write_text(json.dumps({"work": str(self.work), "sysctl": self._sysctl, "existed": self._existed,
                                      "pids": [p.proc.pid for p in self.peers.values()]}))

    def _containerd(self, sandbox_image: str) -> None:
        config = self.work / "containerd.toml"
        config.write_text(containerd_config(self.work, self.state, sandbox_image))
        (self.work / "cni" / "net.d" / "10-observe-node.conflist").write_text(json.dumps(cni_config(self.work)))
        peer = self._daemon("containerd", [shutil.which("containerd") or "containerd", "--config", config])
        wait_ready(peer, lambda: sh([*self.ctr, "version"], check=False).returncode == 0, timeout=60)

    def _control_plane(self) -> None:
        p = self.pki
        etcd_port, etcd_peer = free_port(), free_port()
        etcd = self._daemon("etcd", [
            kube.etcd_binary(), "--name=node", f"--data-dir={self.work / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}", f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=node=http://127.0.0.1:{etcd_peer}", "--unsafe-no-fsync", "--log-level=warn"])
        wait_ready(etcd, lambda: kube._etcd_healthy(f"http://127.0.0.1:{etcd_port}"), timeout=60)
        tokens = self.work / "tokens.csv"
        tokens.write_text(f'{self.token},observe-admin,observe-admin,"system:masters"\n')
        tokens.chmod(0o600)
        api = self._daemon("kube-apiserver", [
            kube.apiserver_binary(), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--bind-address={self.node_ip}", f"--advertise-address={self.node_ip}", f"--secure-port={self.api_port}",
            f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}", f"--token-auth-file={tokens}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true", "--profiling=false"])
        api.url = self.url
        api.extra = {"token": self.token, "ca_file": str(p / "ca.crt")}
        self.apiserver = api
        wait_ready(api, lambda: kube._readyz(api), timeout=180)
        admin = kubeconfig(self.work / "admin.kubeconfig", self.url, p / "ca.crt", token=self.token)
        api.extra["kubeconfig"] = str(admin)
        for user in ("controller-manager", "scheduler", "kube-proxy", "kubelet"):
            kubeconfig(p / f"{user}.kubeconfig", self.url, p / "ca.crt", cert=p / f"{user}.crt", key=p / f"{user}.key")
        cm = p / "controller-manager.kubeconfig"
        self._daemon("kube-controller-manager", [
            kube.kube_binary("kube-controller-manager"), f"--kubeconfig={cm}", f"--authentication-kubeconfig={cm}",
            f"--authorization-kubeconfig={cm}", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--cluster-cidr={POD_CIDR}", "--allocate-node-cidrs=true", "--node-cidr-mask-size=24",
            f"--service-cluster-ip-range={SERVICE_CIDR}", f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}", f"--root-ca-file={p / 'ca.crt'}",
            f"--service-account-private-key-file={p / 'sa.key'}", "--profiling=false"])
        sched = p / "scheduler.kubeconfig"
        self._daemon("kube-scheduler", [
            kube.kube_binary("kube-scheduler"), f"--kubeconfig={sched}", f"--authentication-kubeconfig={sched}",
            f"--authorization-kubeconfig={sched}", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--leader-elect=false", "--profiling=false"])

    def _node(self) -> None:
        kubelet_yaml = self.work / "kubelet.json"
        kubelet_yaml.write_text(json.dumps(kubelet_config(self.work, self.pki, self.node_ip, free_port())))
        self._daemon("kubelet", [
            kube.kube_binary("kubelet"), f"--config={kubelet_yaml}", f"--kubeconfig={self.pki / 'kubelet.kubeconfig'}",
            f"--root-dir={self.work / 'kubelet'}", f"--node-ip={self.node_ip}", f"--hostname-override={self.node}"])
        proxy_yaml = self.work / "kube-proxy.json"
        proxy_yaml.write_text(json.dumps(kube_proxy_config(self.pki, self.node_ip, free_port(), free_port())))
        self._daemon("kube-proxy", [kube.kube_binary("kube-proxy"), f"--config={proxy_yaml}",
                                    f"--hostname-override={self.node}"])
        self.wait(lambda: self.node_ready(), 180, "node Ready")
        dns = images.scratch_binary("coredns", coredns_binary(), "/coredns")
        self.import_image(dns)
        manifest = COREDNS_MANIFEST.replace("IMAGE", dns.ref).replace("DNS_VIP", DNS_VIP)
        self.kubectl("apply", "-f", "-", input=manifest)
        # Until the controller-manager made the default ServiceAccounts, pods are refused.
        self.wait(lambda: self.kubectl("-n", "default", "get", "serviceaccount", "default", check=False).returncode == 0,
                  60, "default ServiceAccount")

    # --- helpers ---
    def wait(self, check: Any, timeout: float, what: str, interval: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, peer in self.peers.items():
                if not peer.alive():
                    raise PeerError(f"{name} exited ({peer.proc.returncode}) while waiting for {what}:\n{peer.log_tail()}")
            if check():
                return
            time.sleep(interval)
        kubelet = self.peers.get("kubelet")
        raise PeerError(f"{what}: not after {timeout:.0f}s; kubelet log:\n{kubelet.log_tail(40) if kubelet else ''}")

    def node_ready(self) -> bool:
        try:
            node = self.get(f"/api/v1/nodes/{self.node}")
        except PeerError:
            return False
        conds = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def get(self, path: str) -> dict[str, Any]:
        assert self.apiserver is not None
        return kube.kube_request(self.apiserver, "GET", path)

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        assert self.apiserver is not None
        return kube.kube_request(self.apiserver, method, path, body, **kw)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [str(kube.kube_binary("kubectl")), "--kubeconfig", str(self.work / "admin.kubeconfig"), *args]
        out = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise PeerError(f"kubectl {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def import_image(self, image: images.Image) -> None:
        """Put an image into containerd's k8s.io namespace (skipped when it is there already)."""
        have = sh([*self.ctr, "images", "ls", "-q", f"name=={image.ref}"], check=False).stdout.split()
        if image.ref not in have:
            out = sh([*self.ctr, "images", "import", image.archive], timeout=600, check=False)
            have = sh([*self.ctr, "images", "ls", "-q", f"name=={image.ref}"], check=False).stdout.split()
            if image.ref not in have:
                raise PeerError(f"import of {image.archive} did not yield {image.ref}: {out.stdout}{out.stderr}")

    def expose(self, loopback_port: int) -> int:
        """A port on the node IP that forwards to 127.0.0.1:loopback_port (closed to the outside interface)."""
        fwd = Forwarder(self.node_ip, loopback_port)
        _iptables("-I", "INPUT", "-i", self.iface, "-p", "tcp", "--dport", str(fwd.port), "-m", "comment",
                  "--comment", COMMENT, "-j", "DROP", check=True)
        self.forwarders.append(fwd)
        return fwd.port

    # --- stop ---
    def stop(self) -> None:
        """Undo everything start() did; every step runs even when an earlier one failed (errors raised at the end).

        A cluster that never took the lock did nothing, and undoes nothing: the machine-wide state (cni0, the
        iptables chains, /var/log/pods, the record) is the other cluster's.
        """
        if not self._owner:
            return
        errors: list[str] = []
        for step in (self._stop_processes, self._unmount, self._restore_network, self._restore_host):
            try:
                step()
            except Exception as exc:
                errors.append(f"{step.__name__}: {exc}")
        if not errors:
            RECORD.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._owner = False
        if errors:
            raise PeerError("node teardown was incomplete:\n" + "\n".join(errors))

    def _stop_processes(self) -> None:
        for fwd in self.forwarders:
            fwd.close()
        for name in reversed(DAEMONS):
            if name in self.peers:
                self.peers[name].stop()
        if "containerd" in self.peers and self.peers["containerd"].alive():
            tasks = sh([*self.ctr, "tasks", "ls", "-q"], check=False).stdout.split()
            for t in tasks:
                sh([*self.ctr, "tasks", "kill", "-s", "SIGKILL", t], check=False)
            deadline = time.monotonic() + 20
            for t in tasks:
                while time.monotonic() < deadline and sh([*self.ctr, "tasks", "delete", t],
                                                         check=False).returncode != 0:
                    time.sleep(0.3)
            for c in sh([*self.ctr, "containers", "ls", "-q"], check=False).stdout.split():
                sh([*self.ctr, "containers", "delete", c], check=False)
            self.peers["containerd"].stop()

    def _unmount(self) -> None:
        for point in _mounts_under([str(self.work), str(self.state)]) + _netns_mounts():
            sh(["umount", "-l", point], check=False)
        if Path("/run/netns").is_dir():
            for ns in Path("/run/netns").glob("cni-*"):
                try:
                    ns.unlink()
                except OSError:
                    sh(["umount", "-l", ns], check=False)
                    ns.unlink(missing_ok=True)

    def _restore_network(self) -> None:
        sh([kube.kube_binary("kube-proxy"), "--cleanup"], check=False)
        for rule in _our_rules():
            _iptables(*rule)
        _remove_kube_chains()
        sh(["ip", "link", "del", "cni0"], check=False)

    def _restore_host(self) -> None:
        for key, value in self._sysctl.items():
            sh(["sysctl", "-q", "-w", f"{key}={value}"], check=False)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for group in ("kubepods", "k8s.io"):
                top = hierarchy / group
                if top.is_dir():
                    for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                                    reverse=True):
                        try:
                            d.rmdir()
                        except OSError:
                            pass
                    try:
                        top.rmdir()
                    except OSError:
                        pass
        for d in HOST_DIRS:
            if not self._existed[str(d)]:
                shutil.rmtree(d, ignore_errors=True)
            elif d.name in ("pods", "containers") and d.is_dir():
                for child in d.iterdir():
                    if child.is_symlink() or child.is_file():
                        child.unlink(missing_ok=True)
                    else:
                        shutil.rmtree(child, ignore_errors=True)
        shutil.rmtree(self.work / "kubelet", ignore_errors=True)

    def daemon_rss(self) -> dict[str, int]:
        """Resident memory (bytes) of each daemon."""
        out: dict[str, int] = {}
        for name, peer in self.peers.items():
            try:
                for line in Path(f"/proc/{peer.proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[name] = int(line.split()[1]) * 1024
            except OSError:
                pass
        return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _orphaned_workdirs(current: Path, root: Path = Path("/run")) -> list[Path]:
    """Workdirs of earlier clusters (`/run/observe-node-<pid>`, the fixture's) other than `current`, whose pid is gone."""
    out = []
    for d in root.glob("observe-node-*"):
        pid = d.name.removeprefix("observe-node-")
        if d.is_dir() and d != current and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            out.append(d)
    return out


def recover(record: dict[str, Any]) -> None:
    """Undo a cluster whose session died before stop(): its daemons, shims and pod processes, then the host state.

    Only processes that are provably ours are killed: the recorded PIDs whose command line names the old
    workdir or the peer cache, any process whose command line names a path in the old workdir (the daemons and the
    shims serving the old containerd socket, found even without a record), and whatever runs in the kubelet's
    `kubepods` cgroups (one cluster per machine: the lock).
    """
    import signal
    work = str(record["work"])
    victims = [pid for pid in record.get("pids", []) if work in _cmdline(pid) or str(CACHE) in _cmdline(pid)]
    for proc in Path("/proc").iterdir():
        # Daemons and shims started with the old workdir in their command line (all of them name it).
        if proc.name.isdigit() and int(proc.name) != os.getpid() and work + "/" in _cmdline(int(proc.name)):
            victims.append(int(proc.name))
    pods_cgroup = Path("/sys/fs/cgroup/pids/kubepods")
    if pods_cgroup.is_dir():
        for procs in pods_cgroup.rglob("cgroup.procs"):
            victims += [int(x) for x in procs.read_text().split()]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(1)
    stale = Cluster(Path(work))
    stale._sysctl = dict(record.get("sysctl", {}))
    stale._existed = {str(d): bool(record.get("existed", {}).get(str(d), False)) for d in HOST_DIRS}
    for step in (stale._unmount, stale._restore_network, stale._restore_host):
        step()
    shutil.rmtree(work, ignore_errors=True)
    RECORD.unlink(missing_ok=True)


def start(workdir: Path) -> Cluster:
    """Start the cluster (node Ready, CoreDNS applied); stop() it even when this raises."""
    install()
    cluster = Cluster(workdir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One real node for the whole session (its start costs ~20-40 s); tests use their own namespaces."""
    if os.geteuid() != 0:
        pytest.skip("the node peer runs containerd, kubelet and iptables: it needs root")
    # Sockets have a 108-byte path limit: keep the workdir short.
    work = Path(f"/run/observe-node-{os.getpid()}")
    cluster = start(work)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["CACHE", "Cluster", "Forwarder", "install", "start"]
