#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A minimal CRI v1 client: the few RuntimeService calls kubelet makes for a
pod's network (RunPodSandbox, PodSandboxStatus, StopPodSandbox,
RemovePodSandbox, plus Version/Status/ListPodSandbox for readiness and
cleanup). Debian packages no crictl; this runs on python3-grpcio with the
messages of cri/api.proto compiled by protoc at run time (--gen-dir).

Usage: cri_client.py --socket PATH --gen-dir DIR VERB [ARGS]
  version                    runtime name and version (JSON)
  status                     runtime conditions (JSON: {type: {status, reason, message}})
  run NAME NAMESPACE UID [--cgroup-parent P] [--log-dir D]
                             RunPodSandbox; prints the sandbox id
  inspect ID                 PodSandboxStatus (verbose); prints JSON:
                             id, state, ip, ips, namespace, name, uid, netns, pid
  stop ID / remove ID        StopPodSandbox / RemovePodSandbox
  list                       sandbox ids, one a line
Exit status 0 on success; on an RPC error prints "CODE: details" on stderr
and exits 1.
"""
import argparse
import importlib
import json
import os
import subprocess
import sys

import grpc

SERVICE = "/runtime.v1.RuntimeService/"


def compile_proto(gen_dir):
    """Compiles cri/api.proto next to this file into gen_dir (once) and
    imports the generated messages."""
    proto_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cri")
    proto = os.path.join(proto_dir, "api.proto")
    out = os.path.join(gen_dir, "api_pb2.py")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(proto):
        os.makedirs(gen_dir, exist_ok=True)
        subprocess.run(["protoc", "-I", proto_dir, "--python_out=" + gen_dir, proto], check=True)
    sys.path.insert(0, gen_dir)
    return importlib.import_module("api_pb2")


class Cri:
    def __init__(self, socket, pb):
        self.pb = pb
        self.channel = grpc.insecure_channel("unix://" + socket)

    def call(self, method, request, response_type, timeout=120):
        rpc = self.channel.unary_unary(
            SERVICE + method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return rpc(request, timeout=timeout)


def cmd_version(cri, pb, _args):
    r = cri.call("Version", pb.VersionRequest(version="v1"), pb.VersionResponse, timeout=10)
    print(json.dumps({"runtimeName": r.runtime_name, "runtimeVersion": r.runtime_version,
                      "runtimeApiVersion": r.runtime_api_version}))


def cmd_status(cri, pb, _args):
    r = cri.call("Status", pb.StatusRequest(verbose=False), pb.StatusResponse, timeout=10)
    print(json.dumps({c.type: {"status": c.status, "reason": c.reason, "message": c.message}
                      for c in r.status.conditions}))


def cmd_run(cri, pb, args):
    meta = pb.PodSandboxMetadata(name=args.name, namespace=args.namespace, uid=args.uid, attempt=0)
    linux = pb.LinuxPodSandboxConfig(
        cgroup_parent=args.cgroup_parent,
        # What kubelet sends for an ordinary pod: its own network namespace.
        security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)),
    )
    config = pb.PodSandboxConfig(metadata=meta, hostname=args.name, log_directory=args.log_dir,
                                 labels={"app": args.name}, linux=linux)
    r = cri.call("RunPodSandbox", pb.RunPodSandboxRequest(config=config), pb.RunPodSandboxResponse)
    print(r.pod_sandbox_id)


def netns_of(info):
    """The network namespace path and the sandbox pid from containerd's
    verbose sandbox info: JSON under "info" with
    runtimeSpec.linux.namespaces[type=network].path and pid."""
    try:
        doc = json.loads(info.get("info", "{}"))
    except ValueError:
        return "", 0
    for ns in doc.get("runtimeSpec", {}).get("linux", {}).get("namespaces", []):
        if ns.get("type") == "network":
            return ns.get("path", ""), doc.get("pid", 0)
    return "", doc.get("pid", 0)


def cmd_inspect(cri, pb, args):
    r = cri.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=args.id, verbose=True),
                 pb.PodSandboxStatusResponse, timeout=30)
    s = r.status
    netns, pid = netns_of(dict(r.info))
    ips = [s.network.ip] if s.network.ip else []
    ips += [p.ip for p in s.network.additional_ips]
    print(json.dumps({
        "id": s.id,
        "state": pb.PodSandboxState.Name(s.state),
        "ip": s.network.ip,
        "ips": ips,
        "namespace": s.metadata.namespace,
        "name": s.metadata.name,
        "uid": s.metadata.uid,
        "netns": netns,
        "pid": pid,
    }))


def cmd_stop(cri, pb, args):
    cri.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=args.id), pb.StopPodSandboxResponse)


def cmd_remove(cri, pb, args):
    cri.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=args.id),
             pb.RemovePodSandboxResponse)


def cmd_list(cri, pb, _args):
    r = cri.call("ListPodSandbox", pb.ListPodSandboxRequest(), pb.ListPodSandboxResponse, timeout=30)
    for item in r.items:
        print(item.id)


def main():
    p = argparse.ArgumentParser(description="minimal CRI v1 client")
    p.add_argument("--socket", required=True, help="the runtime's CRI socket")
    p.add_argument("--gen-dir", required=True, help="where protoc puts api_pb2.py")
    sub = p.add_subparsers(dest="verb", required=True)
    sub.add_parser("version").set_defaults(fn=cmd_version)
    sub.add_parser("status").set_defaults(fn=cmd_status)
    run = sub.add_parser("run")
    run.add_argument("name")
    run.add_argument("namespace")
    run.add_argument("uid")
    run.add_argument("--cgroup-parent", default="")
    run.add_argument("--log-dir", default="")
    run.set_defaults(fn=cmd_run)
    for verb, fn in (("inspect", cmd_inspect), ("stop", cmd_stop), ("remove", cmd_remove)):
        sp = sub.add_parser(verb)
        sp.add_argument("id")
        sp.set_defaults(fn=fn)
    sub.add_parser("list").set_defaults(fn=cmd_list)
    args = p.parse_args()

    pb = compile_proto(args.gen_dir)
    cri = Cri(args.socket, pb)
    try:
        args.fn(cri, pb, args)
    except grpc.RpcError as e:
        print("%s %s: %s" % (args.verb, e.code().name, e.details()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
