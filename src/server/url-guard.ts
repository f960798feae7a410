import { BlockList, isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import { ConfigError, SourceError, codes } from '../core/errors.js';
import {
  createDispatcher,
  type DispatchGuard,
  type DispatcherOptions,
  type ResolvedAddress,
} from '../sources/dispatcher.js';

/**
 * What an address is, for the guard. Everything but `public` is refused unless `allowPrivate` is set.
 * `invalid` is anything that is not an IP address at all (a resolver that answers nonsense is refused too).
 */
export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'this-network'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmarking'
  | 'protocol-assignment'
  | 'reserved'
  | 'invalid';

export interface AddressClass {
  kind: AddressKind;
  /** The special-purpose range that matched, e.g. `127.0.0.0/8`; absent for a public or invalid address. */
  range?: string;
  /** For an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address: the IPv4 address classified. */
  embeddedIPv4?: string;
  /** For messages: `a loopback address`, `an IPv4-mapped form of 10.0.0.5, a private address`. */
  description: string;
}

interface SpecialRange {
  readonly range: string;
  readonly kind: AddressKind;
  readonly description: string;
  readonly list: BlockList;
}

function ranges(
  type: 'ipv4' | 'ipv6',
  entries: ReadonlyArray<readonly [string, AddressKind, string]>,
): SpecialRange[] {
  return entries.map(([range, kind, description]) => {
    const [network, prefix] = range.split('/') as [string, string];
    const list = new BlockList();
    list.addSubnet(network, Number(prefix), type);
    return { range, kind, description, list };
  });
}

// IANA's IPv4 and IPv6 special-purpose address registries (RFC 6890 and successors), first match wins. A
// few entries that IANA marks globally reachable (192.0.0.9, 2001:1::1, AS112, AMT) sit inside refused
// blocks: no video is served from anycast protocol addresses, and whole blocks are easier to reason about.
const IPV4_RANGES = ranges('ipv4', [
  ['0.0.0.0/32', 'unspecified', 'the unspecified address'],
  ['0.0.0.0/8', 'this-network', 'a "this network" address'],
  ['10.0.0.0/8', 'private', 'a private address'],
  ['100.64.0.0/10', 'shared', 'a shared (carrier-grade NAT) address'],
  ['127.0.0.0/8', 'loopback', 'a loopback address'],
  ['169.254.0.0/16', 'link-local', 'a link-local address'],
  ['172.16.0.0/12', 'private', 'a private address'],
  ['192.0.0.0/24', 'protocol-assignment', 'an IETF protocol assignment'],
  ['192.0.2.0/24', 'documentation', 'a documentation address'],
  ['192.88.99.0/24', 'reserved', 'a deprecated 6to4 relay address'],
  ['192.168.0.0/16', 'private', 'a private address'],
  ['198.18.0.0/15', 'benchmarking', 'a benchmarking address'],
  ['198.51.100.0/24', 'documentation', 'a documentation address'],
  ['203.0.113.0/24', 'documentation', 'a documentation address'],
  ['224.0.0.0/4', 'multicast', 'a multicast address'],
  ['255.255.255.255/32', 'broadcast', 'the broadcast address'],
  ['240.0.0.0/4', 'reserved', 'a reserved address'],
]);

const IPV6_RANGES = ranges('ipv6', [
  ['::/128', 'unspecified', 'the unspecified address'],
  ['::1/128', 'loopback', 'a loopback address'],
  ['64:ff9b:1::/48', 'private', 'a local-use NAT64 address'],
  ['100::/64', 'reserved', 'a discard-only address'],
  ['2001::/32', 'reserved', 'a Teredo tunnel address'],
  ['2001::/23', 'protocol-assignment', 'an IETF protocol assignment'],
  ['2001:db8::/32', 'documentation', 'a documentation address'],
  ['2002::/16', 'reserved', 'a 6to4 address'],
  ['3fff::/20', 'documentation', 'a documentation address'],
  ['fc00::/7', 'private', 'a unique local (private) address'],
  ['fe80::/10', 'link-local', 'a link-local address'],
  ['fec0::/10', 'private', 'a site-local (private) address'],
  ['ff00::/8', 'multicast', 'a multicast address'],
]);

/** Everything outside it (IPv4-compatible ::a.b.c.d, unallocated space) is refused as reserved. */
const [GLOBAL_UNICAST] = ranges('ipv6', [['2000::/3', 'public', 'a global unicast address']]);

/** The eight 16-bit groups of a valid IPv6 address (as `net.isIPv6` accepts it, without a zone). */
function ipv6Groups(address: string): number[] {
  let text = address;
  let tail: number[] = [];
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted.slice(2).map(Number);
    tail = [(a << 8) | b, (c << 8) | d];
    const head = dotted[1] ?? '';
    text = head.endsWith('::') ? head : head.slice(0, -1);
  }
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((group) => Number.parseInt(group, 16)) : [];
  const [front, back] = text.split('::');
  if (back === undefined) return [...parse(front), ...tail];
  const before = parse(front);
  const after = [...parse(back), ...tail];
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}

/** The IPv4 address carried by an IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96) address. */
function embeddedIPv4(groups: readonly number[]): { ipv4: string; form: string } | undefined {
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  const ipv4 = `${g6 >> 8}.${g6 & 0xff}.${g7 >> 8}.${g7 & 0xff}`;
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) {
    return { ipv4, form: 'an IPv4-mapped' };
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return { ipv4, form: 'a NAT64' };
  }
  return undefined;
}

function classifyIn(list: readonly SpecialRange[], address: string, type: 'ipv4' | 'ipv6') {
  const match = list.find((entry) => entry.list.check(address, type));
  return match && { kind: match.kind, range: match.range, description: match.description };
}

/**
 * What kind of address `address` is: public, or which non-public range it falls in.
 *
 * An IPv4-mapped or NAT64 IPv6 address is classified by the IPv4 address inside it (a socket to
 * `::ffff:127.0.0.1` reaches 127.0.0.1). IPv6 outside 2000::/3 is refused as reserved. Brackets (`[::1]`,
 * as URLs spell IPv6) and a zone (`fe80::1%eth0`) are ignored.
 *
 * @example
 * classifyAddress('::ffff:10.0.0.5');
 * // { kind: 'private', range: '10.0.0.0/8', embeddedIPv4: '10.0.0.5',
 * //   description: 'an IPv4-mapped form of 10.0.0.5, a private address' }
 *
 * @param address an IPv4 or IPv6 address; anything else is `invalid`.
 */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const version = isIP(bare);
  if (version === 4)
    return classifyIn(IPV4_RANGES, bare, 'ipv4') ?? { kind: 'public', description: 'public' };
  if (version !== 6) return { kind: 'invalid', description: 'not an IP address' };
  const embedded = embeddedIPv4(ipv6Groups(bare.toLowerCase()));
  if (embedded) {
    const inner = classifyAddress(embedded.ipv4);
    if (inner.kind === 'public')
      return { kind: 'public', embeddedIPv4: embedded.ipv4, description: 'public' };
    return {
      ...inner,
      embeddedIPv4: embedded.ipv4,
      description: `${embedded.form} form of ${embedded.ipv4}, ${inner.description}`,
    };
  }
  return (
    classifyIn(IPV6_RANGES, bare, 'ipv6') ??
    (GLOBAL_UNICAST!.list.check(bare, 'ipv6')
      ? { kind: 'public', description: 'public' }
      : { kind: 'reserved', description: 'outside the global unicast range 2000::/3' })
  );
}

/**
 * True when `address` is a public unicast address, one a server taking URLs from strangers may connect to.
 * False for loopback, private, link-local, CGNAT, multicast, reserved…, their IPv4-mapped forms, and
 * anything that is not an IP address. See {@link classifyAddress} for which range and why.
 */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address).kind === 'public';
}

/** Why a URL was refused; `context.reason` of an FF_ERR_URL_REFUSED error. */
export type RefusalReason = 'scheme' | 'host' | 'address';

/** True for the error the guard refuses a URL with (code FF_ERR_URL_REFUSED). */
export function isUrlRefused(error: unknown): error is SourceError {
  return error instanceof SourceError && error.code === codes.guard.urlRefused;
}

/** The URL as a message may show it: credentials in it (`user:secret@`) do not belong in logs. */
function redacted(href: string): string {
  try {
    const url = new URL(href);
    if (url.username === '' && url.password === '') return href;
    url.username = url.username === '' ? '' : '***';
    url.password = url.password === '' ? '' : '***';
    return url.href;
  } catch {
    return href;
  }
}

function refused(href: string, reason: RefusalReason, what: string, context: Record<string, unknown>) {
  const url = redacted(href);
  return new SourceError(codes.guard.urlRefused, `refused ${url}: ${what}`, { url, reason, ...context });
}

export interface UrlGuardOptions {
  /** Connect to loopback, private and other non-public addresses too (`--allow-private`). Default false. */
  allowPrivate?: boolean;
  /**
   * Only these hosts, each an exact host (`cdn.example.com`, `203.0.113.7`, `[2001:db8::1]`) or a suffix
   * pattern (`*.example.com`: any name below example.com, not example.com itself). Case and a trailing dot
   * do not matter. Applies to every redirect hop. An allowed host is still refused when it resolves to a
   * non-public address. Default: any host.
   */
  allowHosts?: readonly string[];
  /**
   * Resolves a name to all its addresses, instead of dns.lookup. Tests use it as a fake DNS (they may resolve
   * no real name); a deployment may pass its own resolver. Every address it returns is checked.
   */
  lookup?: (hostname: string) => Promise<readonly ResolvedAddress[]>;
  /**
   * FOR TESTS: asked about each address the classification refuses, with the host name it was reached
   * through (the literal itself for an IP in the URL); true lets it through. Tests have only loopback
   * servers, and use this to let one stand in for a public host (`public.test` → 127.0.0.1) while
   * 127.0.0.1 named directly stays refused. Production code should use allowPrivate or allowHosts instead.
   */
  isAllowedAddress?: (address: string, host: string) => boolean;
}

interface HostPatterns {
  readonly exact: ReadonlySet<string>;
  /** '.example.com' for '*.example.com'. */
  readonly suffixes: readonly string[];
  readonly patterns: readonly string[];
}

/** A host as WHATWG URL spells it (lowercase, punycode, IPv6 in brackets), without a trailing dot. */
function normaliseHost(text: string): string | undefined {
  if (text === '' || /[\s/?#@\\]/.test(text)) return undefined;
  const ipv6 = isIP(text.replace(/^\[(.*)\]$/, '$1')) === 6;
  // A port (even the default one, which URL would silently drop) is not part of a host pattern.
  if (text.includes(':') && !ipv6) return undefined;
  const candidate = ipv6 && !text.startsWith('[') ? `[${text}]` : text;
  let url: URL;
  try {
    url = new URL(`http://${candidate}/`);
  } catch {
    return undefined;
  }
  if (url.port !== '' || url.host !== url.hostname) return undefined;
  return url.hostname.replace(/\.$/, '') || undefined;
}

function compileHostPatterns(patterns: readonly unknown[], problems: string[]): HostPatterns {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  patterns.forEach((pattern, index) => {
    const bad = () =>
      problems.push(
        `allowHosts[${index}]: expected a host name, an IP address or *.suffix, got ${JSON.stringify(pattern)}`,
      );
    if (typeof pattern !== 'string') return bad();
    if (pattern.startsWith('*.')) {
      const suffix = normaliseHost(pattern.slice(2));
      if (suffix === undefined || suffix.includes('*') || isIP(suffix.replace(/^\[(.*)\]$/, '$1')) !== 0) {
        return bad();
      }
      suffixes.push(`.${suffix}`);
      return;
    }
    const host = normaliseHost(pattern);
    if (host === undefined || host.includes('*')) return bad();
    exact.add(host);
  });
  return { exact, suffixes, patterns: patterns.map(String) };
}

function hostAllowed(allow: HostPatterns, hostname: string): boolean {
  const host = hostname.replace(/\.$/, '');
  return allow.exact.has(host) || allow.suffixes.some((suffix) => host.endsWith(suffix));
}

/** A {@link DispatchGuard} that also checks URLs on their own (no DNS): see {@link createUrlGuard}. */
export interface UrlGuard extends DispatchGuard {
  /**
   * Scheme, allowlist and (for an IP literal) the address, synchronously and without DNS: what a server can
   * answer 400 to before it starts anything. A host name's addresses are checked later, when it is resolved.
   * @returns the parsed URL, or the error (FF_ERR_INVALID_URL, FF_ERR_URL_REFUSED) without throwing it.
   */
  checkUrl(url: string | URL): URL | SourceError;
}

/**
 * The policy for URLs taken from untrusted clients, as the three checks a guarded dispatcher asks for: each
 * request and redirect hop (scheme http:/https:, host in the allowlist, an IP literal's address), each
 * resolved address, and each address connected to.
 *
 * @example
 * const guard = createUrlGuard({ allowHosts: ['*.cdn.example'] });
 * const url = guard.checkUrl(input);           // 400 for a SourceError
 * const dispatcher = createDispatcher({ guard });
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) listing every bad option and allowHosts pattern.
 */
export function createUrlGuard(options: UrlGuardOptions = {}): UrlGuard {
  const problems: string[] = [];
  if (options.allowPrivate !== undefined && typeof options.allowPrivate !== 'boolean') {
    problems.push(`allowPrivate: expected a boolean, got ${JSON.stringify(options.allowPrivate)}`);
  }
  let allow: HostPatterns | undefined;
  if (options.allowHosts !== undefined) {
    if (Array.isArray(options.allowHosts)) allow = compileHostPatterns(options.allowHosts, problems);
    else problems.push(`allowHosts: expected an array of host patterns, got ${typeof options.allowHosts}`);
  }
  for (const name of ['lookup', 'isAllowedAddress'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      problems.push(`${name}: expected a function, got ${typeof options[name]}`);
    }
  }
  if (problems.length > 0)
    throw new ConfigError(codes.config.invalidOption, problems, { component: 'url-guard' });

  const allowPrivate = options.allowPrivate ?? false;
  const isAllowedAddress = options.isAllowedAddress;

  const checkRequest = (url: URL): SourceError | undefined => {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return refused(url.href, 'scheme', `scheme ${url.protocol} is not allowed; expected http: or https:`, {
        scheme: url.protocol,
      });
    }
    if (allow && !hostAllowed(allow, url.hostname)) {
      return refused(
        url.href,
        'host',
        `host ${url.hostname} is not one of the allowed hosts (${allow.patterns.join(', ')})`,
        { host: url.hostname },
      );
    }
    return undefined;
  };

  const checkAddress = (
    address: string,
    reached: { host: string; url: string | undefined },
  ): SourceError | undefined => {
    if (allowPrivate) return undefined;
    const found = classifyAddress(address);
    if (found.kind === 'public' || isAllowedAddress?.(address, reached.host)) return undefined;
    const subject =
      reached.host === address
        ? `${address} is ${found.description}`
        : `${reached.host} resolves to ${address}, ${found.description}`;
    const range = found.range === undefined ? '' : ` (${found.range})`;
    return refused(
      reached.url ?? reached.host,
      'address',
      `${subject}${range}; pass --allow-private to allow`,
      { host: reached.host, address, kind: found.kind, range: found.range },
    );
  };

  const checkUrl = (input: string | URL): URL | SourceError => {
    let url: URL;
    try {
      url = input instanceof URL ? input : new URL(input);
    } catch {
      return new SourceError(codes.source.invalidUrl, `not a valid URL: ${JSON.stringify(String(input))}`, {
        url: String(input),
      });
    }
    const refusal = checkRequest(url);
    if (refusal) return refusal;
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(hostname) !== 0) return checkAddress(hostname, { host: hostname, url: url.href }) ?? url;
    return url;
  };

  return {
    checkUrl,
    checkRequest,
    checkAddress,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  };
}

/**
 * Checks a URL without DNS: http:/https: only, the host in `allowHosts` (when given), and an IP literal's
 * address unless `allowPrivate`. A host name's addresses are checked when the guarded dispatcher resolves it.
 *
 * @example
 * const checked = checkUrlSyntax('ftp://example.com/a.mp4');
 * if (checked instanceof SourceError) reply(400, checked.toJSON()); // FF_ERR_URL_REFUSED, reason 'scheme'
 *
 * @returns the parsed URL, or the error (FF_ERR_INVALID_URL, FF_ERR_URL_REFUSED) without throwing it.
 * @throws ConfigError for bad options (a malformed allowHosts pattern).
 */
export function checkUrlSyntax(url: string | URL, options: UrlGuardOptions = {}): URL | SourceError {
  return createUrlGuard(options).checkUrl(url);
}

export type GuardedDispatcherOptions = UrlGuardOptions & Omit<DispatcherOptions, 'guard'>;

/**
 * A dispatcher for URLs from untrusted clients: {@link createDispatcher}'s (keep-alive, DNS cache,
 * redirects) with the guard of {@link createUrlGuard} asked before every request, redirect hop, resolution
 * and connection. The address checked is the address connected to: each name is resolved once, every
 * address it resolves to is checked, and the connection is pinned to one of them; an IP literal is checked
 * as is. A refused URL ends the request with FF_ERR_URL_REFUSED before any socket is opened for it.
 *
 * ```text
 * request ─▶ scheme, allowlist, IP literal ─▶ resolve ─▶ every address ─▶ pin ─▶ connect (literal again)
 *   ▲                                                                                  │
 *   └────────────────────────────── each redirect hop ◀────────────────────────────────┘
 * ```
 *
 * @example
 * const dispatcher = createGuardedDispatcher({ allowHosts: ['*.cdn.example'] });
 * httpSource(url, { dispatcher }).subscribe({ error: (e) => isUrlRefused(e) && reply(403, e.toJSON()) });
 *
 * @param options the guard's options and the dispatcher's (timeouts, redirects, DNS cache).
 * @throws ConfigError (FF_ERR_INVALID_OPTION) listing every bad option.
 */
export function createGuardedDispatcher(options: GuardedDispatcherOptions = {}): Dispatcher {
  const { allowPrivate, allowHosts, lookup, isAllowedAddress, ...dispatcherOptions } = options;
  const guard = createUrlGuard({ allowPrivate, allowHosts, lookup, isAllowedAddress });
  return createDispatcher({ ...dispatcherOptions, guard });
}
