/**
 * SSRF guard for user-supplied mail hosts: a tenant must not make the worker connect to
 * loopback, the private network, or the cloud metadata service.
 *
 * Use the returned address for the TCP connection and keep the host name for TLS, so the
 * connection goes to the address that was checked (no DNS rebinding between check and
 * connect) and certificates are still verified against the name:
 *
 *   const target = await assertPublicMailHost(settings.host, { allowPrivate });
 *   openImapSession({ ...settings, host: target.address, servername: target.servername });
 *   openPop3Session({ ...settings, host: target.address, servername: target.servername });
 *
 * (imapflow takes `servername` for SNI and verification; node-pop3 passes `servername` to
 * `tls.connect`, whose identity check uses it instead of the IP.)
 */
import { lookup } from 'node:dns/promises';
import net, { BlockList } from 'node:net';
import { MailConnectError } from './errors.js';

export interface CheckedMailHost {
  /** The IP address to connect to (canonical form, IPv6 without brackets). */
  address: string;
  family: 4 | 6;
  /** The name for TLS SNI and certificate checks; `undefined` when the host was an IP literal. */
  servername: string | undefined;
}

export interface HostGuardOptions {
  /** Allow loopback, private, link-local, CGNAT and unique-local addresses (self-hosted setups). */
  allowPrivate: boolean;
  /** Resolver, for tests; defaults to the system's (`getaddrinfo`, like `net.connect`). */
  resolve?: (host: string) => Promise<Array<{ address: string; family: number }>>;
}

type Verdict = 'public' | 'private' | 'forbidden';

// Never reachable on purpose, whatever allowPrivate says.
const forbiddenV4 = new BlockList();
forbiddenV4.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network"; 0.0.0.0 reaches localhost on Linux
forbiddenV4.addAddress('169.254.169.254', 'ipv4'); // cloud metadata
forbiddenV4.addAddress('169.254.170.2', 'ipv4'); // ECS task metadata
forbiddenV4.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
forbiddenV4.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, includes 255.255.255.255 broadcast

const privateV4 = new BlockList();
privateV4.addSubnet('127.0.0.0', 8, 'ipv4');
privateV4.addSubnet('10.0.0.0', 8, 'ipv4');
privateV4.addSubnet('172.16.0.0', 12, 'ipv4');
privateV4.addSubnet('192.168.0.0', 16, 'ipv4');
privateV4.addSubnet('169.254.0.0', 16, 'ipv4');
privateV4.addSubnet('100.64.0.0', 10, 'ipv4');
privateV4.addSubnet('192.0.0.0', 24, 'ipv4'); // IETF protocol assignments
privateV4.addSubnet('192.0.2.0', 24, 'ipv4'); // documentation
privateV4.addSubnet('198.18.0.0', 15, 'ipv4'); // benchmarking
privateV4.addSubnet('198.51.100.0', 24, 'ipv4');
privateV4.addSubnet('203.0.113.0', 24, 'ipv4');

const forbiddenV6 = new BlockList();
forbiddenV6.addAddress('::', 'ipv6');
forbiddenV6.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
forbiddenV6.addSubnet('ff00::', 8, 'ipv6'); // multicast

const privateV6 = new BlockList();
privateV6.addAddress('::1', 'ipv6');
privateV6.addSubnet('fe80::', 10, 'ipv6'); // link-local
privateV6.addSubnet('fec0::', 10, 'ipv6'); // old site-local
privateV6.addSubnet('fc00::', 7, 'ipv6'); // unique-local
privateV6.addSubnet('100::', 64, 'ipv6'); // discard
privateV6.addSubnet('2001:db8::', 32, 'ipv6'); // documentation
privateV6.addSubnet('2001::', 32, 'ipv6'); // Teredo: the embedded IPv4 is obfuscated, do not guess
privateV6.addSubnet('64:ff9b:1::', 48, 'ipv6'); // local-use NAT64

/** Parses an IPv6 literal (no brackets, no zone) into 16 bytes; `undefined` if invalid. */
function ipv6Bytes(address: string): Uint8Array | undefined {
  if (!net.isIPv6(address)) return undefined;
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    if (!net.isIPv4(maybeV4)) return undefined;
    for (const part of maybeV4.split('.')) tail.push(Number(part));
    text = text.slice(0, lastColon + 1) + '0:0'; // placeholder groups, replaced below
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return bytes;
}

function v4FromBytes(bytes: Uint8Array, offset: number): string {
  return Array.from(bytes.subarray(offset, offset + 4)).join('.');
}

/** The IPv4 address an IPv6 address carries, in the forms that route to it. */
function embeddedV4(bytes: Uint8Array): string | undefined {
  const zeros = (from: number, to: number): boolean =>
    bytes.subarray(from, to).every((b) => b === 0);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated but still parsed by stacks)
  if (
    zeros(0, 10) &&
    ((bytes[10] === 0xff && bytes[11] === 0xff) || (bytes[10] === 0 && bytes[11] === 0))
  ) {
    return v4FromBytes(bytes, 12);
  }
  // ::ffff:0:a.b.c.d (SIIT translated)
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && bytes[10] === 0 && bytes[11] === 0) {
    return v4FromBytes(bytes, 12);
  }
  // 64:ff9b::/96 (well-known NAT64 prefix)
  if (
    bytes[0] === 0 &&
    bytes[1] === 0x64 &&
    bytes[2] === 0xff &&
    bytes[3] === 0x9b &&
    zeros(4, 12)
  ) {
    return v4FromBytes(bytes, 12);
  }
  // 2002::/16 (6to4) carries the IPv4 address in bits 16..47
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return v4FromBytes(bytes, 2);
  return undefined;
}

function classifyV4(address: string): Verdict {
  if (forbiddenV4.check(address, 'ipv4')) return 'forbidden';
  if (privateV4.check(address, 'ipv4')) return 'private';
  return 'public';
}

function classifyV6(address: string): Verdict {
  const bytes = ipv6Bytes(address);
  if (!bytes) return 'forbidden';
  const v4 = embeddedV4(bytes);
  if (v4 !== undefined) {
    // ::/128 and ::1 look like compatible addresses of 0.0.0.0 and 0.0.0.1
    if (bytes.subarray(0, 15).every((b) => b === 0) && (bytes[15] === 0 || bytes[15] === 1)) {
      return bytes[15] === 0 ? 'forbidden' : 'private';
    }
    return classifyV4(v4);
  }
  if (forbiddenV6.check(address, 'ipv6')) return 'forbidden';
  if (privateV6.check(address, 'ipv6')) return 'private';
  return 'public';
}

/** Classifies one IP address (any family); exported for tests and for checking peers. */
export function classifyAddress(address: string): Verdict {
  const family = net.isIP(address);
  if (family === 4) return classifyV4(address);
  if (family === 6) return classifyV6(address.split('%')[0] ?? address);
  return 'forbidden';
}

/**
 * Turns a host as typed (name, IPv4 in any notation `2130706433` / `0x7f.1` / `0177.0.0.1`,
 * IPv6 with or without brackets) into `{literal}` or `{name}`; `undefined` if it is neither.
 */
export function normalizeMailHost(
  host: string,
): { literal: string; family: 4 | 6 } | { name: string } | undefined {
  const trimmed = host.trim().replace(/\.$/, '');
  if (!trimmed || /[\s/\\?#@]/.test(trimmed)) return undefined;
  const unbracketed =
    trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  if (unbracketed.includes(':')) {
    const noZone = unbracketed.split('%')[0] ?? '';
    return net.isIPv6(noZone) ? { literal: noZone.toLowerCase(), family: 6 } : undefined;
  }
  let parsed: string;
  try {
    // the WHATWG host parser is what understands every IPv4 shorthand the resolver would
    parsed = new URL(`http://${unbracketed}/`).hostname;
  } catch {
    return undefined;
  }
  if (!parsed || parsed.includes('%')) return undefined;
  if (net.isIPv4(parsed)) return { literal: parsed, family: 4 };
  return { name: parsed };
}

async function systemResolve(host: string): Promise<Array<{ address: string; family: number }>> {
  return lookup(host, { all: true, verbatim: true });
}

/**
 * Resolves `host` and refuses it when any of its addresses is not public (one bad record is
 * enough: the resolver could hand it out next time). Returns the address to connect to.
 */
export async function assertPublicMailHost(
  host: string,
  options: HostGuardOptions,
): Promise<CheckedMailHost> {
  const normalized = normalizeMailHost(host);
  if (!normalized)
    throw new MailConnectError('dns', `"${host}" is not a valid host name or IP address.`);

  let candidates: Array<{ address: string; family: 4 | 6 }>;
  let servername: string | undefined;
  if ('literal' in normalized) {
    candidates = [{ address: normalized.literal, family: normalized.family }];
  } else {
    servername = normalized.name;
    let records: Array<{ address: string; family: number }>;
    try {
      records = await (options.resolve ?? systemResolve)(normalized.name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new MailConnectError(
        'dns',
        `The mail server name "${normalized.name}" could not be resolved (${code}).`,
        {
          cause: err,
        },
      );
    }
    if (records.length === 0) {
      throw new MailConnectError(
        'dns',
        `The mail server name "${normalized.name}" has no addresses.`,
      );
    }
    candidates = records.map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));
  }

  for (const candidate of candidates) {
    const verdict = classifyAddress(candidate.address);
    if (verdict === 'forbidden' || (verdict === 'private' && !options.allowPrivate)) {
      const shown = servername
        ? `"${servername}" resolves to ${candidate.address}, which`
        : `${candidate.address}`;
      throw new MailConnectError(
        'blocked_host',
        verdict === 'forbidden'
          ? `${shown} is not an address a mail server can be at.`
          : `${shown} is a private or local address; connecting to it is not allowed here.`,
      );
    }
  }
  const first = candidates[0]!;
  return { address: first.address, family: first.family, servername };
}
