"""WS-Discovery of ONVIF cameras: a multicast Probe for NetworkVideoTransmitters, and the
ProbeMatches that come back (service addresses, scopes with name and hardware).

Multicast leaves the machine: run it on the camera network only. The tests run it inside
network namespaces they create.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

MULTICAST_ADDR = "239.255.255.250"
MULTICAST_PORT = 3702
# Multicast hops: cameras sit on the local segment; a larger TTL would leak probes.
PROBE_TTL = 1

_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
 <s:Header>
  <a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
  <a:MessageID>urn:uuid:{message_id}</a:MessageID>
  <a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
  <a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
 </s:Header>
 <s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>
</s:Envelope>"""


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...] = field(default=())
    source_ip: str = ""

    @property
    def host(self) -> str | None:
        return urlsplit(self.xaddrs[0]).hostname if self.xaddrs else None

    @property
    def port(self) -> int | None:
        if not self.xaddrs:
            return None
        parts = urlsplit(self.xaddrs[0])
        return parts.port or (443 if parts.scheme == "https" else 80)

    def scope(self, key: str) -> str | None:
        """The value of an ``onvif://www.onvif.org/{key}/VALUE`` scope (name, hardware...)."""
        for s in self.scopes:
            m = re.match(rf"onvif://www\.onvif\.org/{key}/(.+)$", s)
            if m:
                return unquote(m.group(1))
        return None

    def as_dict(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "xaddrs": list(self.xaddrs), "host": self.host,
                "port": self.port, "name": self.scope("name"),
                "hardware": self.scope("hardware"), "scopes": list(self.scopes),
                "source_ip": self.source_ip}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_probe_matches(data: bytes, source_ip: str = "") -> list[DiscoveredDevice]:
    """The devices of one ProbeMatches message; [] for anything else."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return []
    found = []
    for match in root.iter():
        if _local(match.tag) != "ProbeMatch":
            continue
        values: dict[str, str] = {}
        for child in match.iter():
            name = _local(child.tag)
            if name in ("Address", "XAddrs", "Scopes") and child.text:
                values.setdefault(name, child.text.strip())
        xaddrs = tuple(values.get("XAddrs", "").split())
        if xaddrs:
            found.append(DiscoveredDevice(values.get("Address", ""), xaddrs,
                                          tuple(values.get("Scopes", "").split()), source_ip))
    return found


def discover(timeout_s: float = 3.0, *, interface_ip: str | None = None) -> list[DiscoveredDevice]:
    """Send one Probe and collect answers for ``timeout_s`` seconds (deduplicated by
    endpoint). ``interface_ip`` picks the network interface to probe from."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", PROBE_TTL))
        if interface_ip:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                            socket.inet_aton(interface_ip))
            sock.bind((interface_ip, 0))
        probe = _PROBE.format(message_id=uuid.uuid4()).encode()
        sock.sendto(probe, (MULTICAST_ADDR, MULTICAST_PORT))
        deadline = time.monotonic() + timeout_s
        seen: dict[str, DiscoveredDevice] = {}
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, (ip, _port) = sock.recvfrom(65535)
            except TimeoutError:
                break
            for device in parse_probe_matches(data, ip):
                seen.setdefault(device.endpoint or device.xaddrs[0], device)
        return list(seen.values())
    finally:
        sock.close()
