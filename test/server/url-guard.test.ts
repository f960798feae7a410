import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lastValueFrom, toArray } from 'rxjs';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError, SourceError } from '../../src/core/errors.js';
import {
  checkUrlSyntax,
  classifyAddress,
  createGuardedDispatcher,
  createUrlGuard,
  isPublicAddress,
  isUrlRefused,
  type AddressKind,
  type GuardedDispatcherOptions,
} from '../../src/server/url-guard.js';
import type { ResolvedAddress } from '../../src/sources/dispatcher.js';
import { httpSource } from '../../src/sources/http.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { concatBytes, sourceErrorOf } from '../support/chunks.js';

describe('classifyAddress / isPublicAddress', () => {
  // prettier-ignore
  const table: Array<[address: string, kind: AddressKind, range?: string]> = [
    // IPv4, public (including the neighbours of refused ranges)
    ['8.8.8.8',                    'public'],
    ['1.1.1.1',                    'public'],
    ['9.255.255.255',              'public'],
    ['11.0.0.0',                   'public'],
    ['100.63.255.255',             'public'],
    ['100.128.0.0',                'public'],
    ['126.255.255.255',            'public'],
    ['128.0.0.0',                  'public'],
    ['169.253.255.255',            'public'],
    ['169.255.0.0',                'public'],
    ['172.15.255.255',             'public'],
    ['172.32.0.0',                 'public'],
    ['192.167.255.255',            'public'],
    ['192.169.0.0',                'public'],
    ['223.255.255.255',            'public'],
    // IPv4, refused
    ['0.0.0.0',                    'unspecified',         '0.0.0.0/32'],
    ['0.1.2.3',                    'this-network',        '0.0.0.0/8'],
    ['10.0.0.5',                   'private',             '10.0.0.0/8'],
    ['10.255.255.255',             'private',             '10.0.0.0/8'],
    ['100.64.0.1',                 'shared',              '100.64.0.0/10'],
    ['100.127.255.255',            'shared',              '100.64.0.0/10'],
    ['127.0.0.1',                  'loopback',            '127.0.0.0/8'],
    ['127.255.255.254',            'loopback',            '127.0.0.0/8'],
    ['169.254.169.254',            'link-local',          '169.254.0.0/16'],
    ['172.16.0.1',                 'private',             '172.16.0.0/12'],
    ['172.31.255.255',             'private',             '172.16.0.0/12'],
    ['192.0.0.8',                  'protocol-assignment', '192.0.0.0/24'],
    ['192.0.2.1',                  'documentation',       '192.0.2.0/24'],
    ['192.88.99.1',                'reserved',            '192.88.99.0/24'],
    ['192.168.1.1',                'private',             '192.168.0.0/16'],
    ['198.18.0.1',                 'benchmarking',        '198.18.0.0/15'],
    ['198.19.255.255',             'benchmarking',        '198.18.0.0/15'],
    ['198.51.100.7',               'documentation',       '198.51.100.0/24'],
    ['203.0.113.9',                'documentation',       '203.0.113.0/24'],
    ['224.0.0.1',                  'multicast',           '224.0.0.0/4'],
    ['239.255.255.250',            'multicast',           '224.0.0.0/4'],
    ['240.0.0.1',                  'reserved',            '240.0.0.0/4'],
    ['255.255.255.255',            'broadcast',           '255.255.255.255/32'],
    // IPv6, public
    ['2606:4700:4700::1111',       'public'],
    ['2001:4860:4860::8888',       'public'],
    ['2001:200::1',                'public'],
    ['2a00:1450:4001::200e',       'public'],
    // IPv4 inside IPv6: classified by the IPv4 address
    ['::ffff:8.8.8.8',             'public'],
    ['64:ff9b::808:808',           'public'],
    ['::ffff:127.0.0.1',           'loopback',            '127.0.0.0/8'],
    ['::ffff:7f00:1',              'loopback',            '127.0.0.0/8'],
    ['0:0:0:0:0:FFFF:7F00:0001',   'loopback',            '127.0.0.0/8'],
    ['::ffff:10.0.0.5',            'private',             '10.0.0.0/8'],
    ['::ffff:ac10:1',              'private',             '172.16.0.0/12'],
    ['::ffff:192.168.0.1',         'private',             '192.168.0.0/16'],
    ['::ffff:169.254.169.254',     'link-local',          '169.254.0.0/16'],
    ['::ffff:100.64.0.1',          'shared',              '100.64.0.0/10'],
    ['::ffff:0.0.0.0',             'unspecified',         '0.0.0.0/32'],
    ['::ffff:224.0.0.1',           'multicast',           '224.0.0.0/4'],
    ['::ffff:255.255.255.255',     'broadcast',           '255.255.255.255/32'],
    ['64:ff9b::7f00:1',            'loopback',            '127.0.0.0/8'],
    ['64:ff9b::10.0.0.5',          'private',             '10.0.0.0/8'],
    // IPv6, refused
    ['::',                         'unspecified',         '::/128'],
    ['::1',                        'loopback',            '::1/128'],
    ['[::1]',                      'loopback',            '::1/128'],
    ['0:0:0:0:0:0:0:1',            'loopback',            '::1/128'],
    ['::127.0.0.1',                'reserved'],  // IPv4-compatible (deprecated), outside 2000::/3
    ['::ffff:0:7f00:1',            'reserved'],  // IPv4-translated (SIIT), outside 2000::/3
    ['64:ff9b:1::1',               'private',             '64:ff9b:1::/48'],
    ['100::1',                     'reserved',            '100::/64'],
    ['2001::1',                    'reserved',            '2001::/32'],
    ['2001:2::1',                  'protocol-assignment', '2001::/23'],
    ['2001:db8::1',                'documentation',       '2001:db8::/32'],
    ['2002:7f00:1::1',             'reserved',            '2002::/16'],
    ['3fff::1',                    'documentation',       '3fff::/20'],
    ['fc00::1',                    'private',             'fc00::/7'],
    ['fd12:3456:789a::1',          'private',             'fc00::/7'],
    ['fe80::1',                    'link-local',          'fe80::/10'],
    ['fe80::1%eth0',               'link-local',          'fe80::/10'],
    ['febf:ffff::1',               'link-local',          'fe80::/10'],
    ['fec0::1',                    'private',             'fec0::/10'],
    ['ff02::1',                    'multicast',           'ff00::/8'],
    ['ff05::1:3',                  'multicast',           'ff00::/8'],
    ['4000::1',                    'reserved'],
    ['1000::1',                    'reserved'],
    // Not IP addresses at all
    ['localhost',                  'invalid'],
    ['',                           'invalid'],
    ['127.1',                      'invalid'],
    ['0x7f000001',                 'invalid'],
    ['1.2.3.256',                  'invalid'],
  ];

  it.each(table)('%s is %s', (address, kind, range) => {
    const found = classifyAddress(address);
    expect(found.kind).toBe(kind);
    expect(found.range).toBe(range);
    expect(isPublicAddress(address)).toBe(kind === 'public');
  });

  it('says which IPv4 address an IPv4-mapped or NAT64 address carries', () => {
    expect(classifyAddress('::ffff:10.0.0.5')).toEqual({
      kind: 'private',
      range: '10.0.0.0/8',
      embeddedIPv4: '10.0.0.5',
      description: 'an IPv4-mapped form of 10.0.0.5, a private address',
    });
    expect(classifyAddress('64:ff9b::7f00:1').description).toBe(
      'a NAT64 form of 127.0.0.1, a loopback address',
    );
    expect(classifyAddress('::ffff:8.8.8.8')).toEqual({
      kind: 'public',
      embeddedIPv4: '8.8.8.8',
      description: 'public',
    });
  });
});

describe('checkUrlSyntax: scheme, IP literals, allowlist (no DNS)', () => {
  it.each([
    'ftp://example.com/a.mp4',
    'file:///etc/passwd',
    'data:video/mp4;base64,AAAA',
    'gopher://x/',
    'ws://x/',
  ])('refuses %s by its scheme', (url) => {
    const checked = checkUrlSyntax(url);
    expect(checked).toBeInstanceOf(SourceError);
    expect((checked as SourceError).toJSON()).toMatchObject({
      code: 'FF_ERR_URL_REFUSED',
      context: { reason: 'scheme', scheme: new URL(url).protocol },
    });
    expect((checked as SourceError).message).toMatch(/is not allowed; expected http: or https:$/);
  });

  it('an unparsable URL is FF_ERR_INVALID_URL, not a refusal', () => {
    const checked = checkUrlSyntax('not a url');
    expect(checked).toBeInstanceOf(SourceError);
    expect((checked as SourceError).code).toBe('FF_ERR_INVALID_URL');
    expect(isUrlRefused(checked)).toBe(false);
  });

  it('passes http: and https: URLs with host names through, parsed', () => {
    const checked = checkUrlSyntax('https://cdn.example.com/clip.mp4?x=1');
    expect(checked).toBeInstanceOf(URL);
    expect((checked as URL).href).toBe('https://cdn.example.com/clip.mp4?x=1');
  });

  it.each([
    ['http://127.0.0.1/a.mp4', '127.0.0.1', 'loopback'],
    ['http://0x7f.1/a.mp4', '127.0.0.1', 'loopback'], // WHATWG URL normalises the IPv4 spellings
    ['http://2130706433/a.mp4', '127.0.0.1', 'loopback'],
    ['http://[::1]:8080/a.mp4', '::1', 'loopback'],
    ['http://[::ffff:127.0.0.1]/a.mp4', '::ffff:7f00:1', 'loopback'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', 'link-local'],
    ['https://10.0.0.5/a.mp4', '10.0.0.5', 'private'],
    ['http://0.0.0.0/', '0.0.0.0', 'unspecified'],
  ])('refuses %s: an IP literal is checked directly', (url, address, kind) => {
    const checked = checkUrlSyntax(url) as SourceError;
    expect(isUrlRefused(checked)).toBe(true);
    expect(checked.context).toMatchObject({ reason: 'address', address, kind });
    expect(checked.message).toMatch(/; pass --allow-private to allow$/);
    expect(checkUrlSyntax(url, { allowPrivate: true })).toBeInstanceOf(URL);
  });

  it('keeps credentials in the URL out of the message', () => {
    const checked = checkUrlSyntax('http://user:secret@10.0.0.5/a.mp4') as SourceError;
    expect(checked.message).toMatch(/^refused http:\/\/\*\*\*:\*\*\*@10\.0\.0\.5\/a\.mp4: /);
    expect(JSON.stringify(checked.toJSON())).not.toContain('secret');
  });

  it('names the URL, the address and why', () => {
    expect((checkUrlSyntax('http://[::ffff:127.0.0.1]/a.mp4') as SourceError).message).toBe(
      'refused http://[::ffff:7f00:1]/a.mp4: ::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1, ' +
        'a loopback address (127.0.0.0/8); pass --allow-private to allow',
    );
  });

  const allowHosts = ['cdn.example.com', '*.videos.test', 'Mixed.Case.Test.', '203.0.113.7', '2001:db8::7'];
  it.each([
    ['http://cdn.example.com/a.mp4', true],
    ['https://CDN.EXAMPLE.COM:8443/a.mp4', true],
    ['http://cdn.example.com./a.mp4', true],
    ['http://mixed.case.test/a.mp4', true],
    ['http://x.videos.test/a.mp4', true],
    ['http://a.b.videos.test/a.mp4', true],
    ['http://[2001:db8::7]/a.mp4', false], // allowed host, but a documentation address: the address still counts
    ['http://203.0.113.7/a.mp4', false], // likewise
    ['http://a.cdn.example.com/a.mp4', false],
    ['http://example.com/a.mp4', false],
    ['http://videos.test/a.mp4', false],
    ['http://evilvideos.test/a.mp4', false],
    ['http://videos.test.evil.example/a.mp4', false],
    ['http://cdn.example.com.evil.example/a.mp4', false],
    ['http://cdn.example.com@evil.example/a.mp4', false],
    ['http://203.0.113.8/a.mp4', false],
  ])('allowHosts: %s → %s', (url, allowed) => {
    const checked = checkUrlSyntax(url, { allowHosts });
    if (allowed) expect(checked).toBeInstanceOf(URL);
    else expect(isUrlRefused(checked)).toBe(true);
  });

  it('allowHosts refusal names the host and the patterns; literals in the list match their URL spelling', () => {
    const checked = checkUrlSyntax('http://evil.example/a.mp4', { allowHosts }) as SourceError;
    expect(checked.message).toBe(
      'refused http://evil.example/a.mp4: host evil.example is not one of the allowed hosts ' +
        '(cdn.example.com, *.videos.test, Mixed.Case.Test., 203.0.113.7, 2001:db8::7)',
    );
    expect(checked.context).toMatchObject({ reason: 'host', host: 'evil.example' });
    const literal = checkUrlSyntax('http://[2001:db8::7]/a.mp4', { allowHosts }) as SourceError;
    expect(literal.context).toMatchObject({ reason: 'address', kind: 'documentation' });
    expect(checkUrlSyntax('http://203.0.113.7/a.mp4', { allowHosts, allowPrivate: true })).toBeInstanceOf(
      URL,
    );
  });

  it('bad allowHosts patterns throw one ConfigError listing each of them', () => {
    const bad = ['', '*', '*.', 'a.*.b', '*foo.com', 'http://x.com', 'x.com/path', 'x.com:80', '*.1.2.3.4'];
    let error: unknown;
    try {
      createUrlGuard({ allowHosts: ['ok.example', ...bad, '[::1]', 'bücher.example'] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FF_ERR_INVALID_OPTION');
    expect((error as ConfigError).problems).toEqual(
      bad.map(
        (pattern, index) =>
          `allowHosts[${index + 1}]: expected a host name, an IP address or *.suffix, got ${JSON.stringify(pattern)}`,
      ),
    );
    // Internationalised names are matched in their punycode form, as URLs carry them.
    expect(
      checkUrlSyntax('http://xn--bcher-kva.example/', { allowHosts: ['bücher.example'] }),
    ).toBeInstanceOf(URL);
  });

  it('bad options throw at construction', () => {
    expect(() =>
      createGuardedDispatcher({ allowPrivate: 'yes' as unknown as boolean, lookup: 1 as never }),
    ).toThrow(/allowPrivate: expected a boolean, got "yes"\nlookup: expected a function, got number/);
  });

  it('createGuardedDispatcher returns an undici Dispatcher', () => {
    expectTypeOf(createGuardedDispatcher).returns.toEqualTypeOf<Dispatcher>();
    expectTypeOf<GuardedDispatcherOptions>().toHaveProperty('connectTimeoutMs');
  });
});

// Against real loopback servers. Host names are resolved only by the test's fake DNS below: no real name is
// resolved and nothing is sent anywhere but 127.0.0.1.
const SIZE = 200_000;
const body = randomBytes(SIZE);

let sim: NetSim;
/** Answers /to?url=… with a 302 to that URL, and records the paths it was asked for. */
let redirector: Server;
let redirectorPort = 0;
const redirectorPaths: string[] = [];
let dispatcher: Dispatcher | undefined;

beforeAll(async () => {
  sim = await startNetSim({ files: { '/clip.mp4': body } });
  redirector = createServer((request, response) => {
    redirectorPaths.push(request.url ?? '');
    const target = new URL(request.url ?? '/', 'http://x').searchParams.get('url');
    response.writeHead(target ? 302 : 404, target ? { location: target } : {}).end();
  });
  await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  redirectorPort = (redirector.address() as AddressInfo).port;
});
afterAll(async () => {
  await sim.close();
  redirector.closeAllConnections();
  await new Promise((resolve) => redirector.close(resolve));
});
afterEach(async () => {
  await dispatcher?.destroy();
  dispatcher = undefined;
});

/** The fake DNS: every name it knows resolves to the addresses given; any other name does not exist. */
function fakeDns(names: Record<string, string[]>) {
  const asked: string[] = [];
  const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    asked.push(hostname);
    const addresses = names[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { lookup, asked };
}

/** FOR TESTS ONLY (see UrlGuardOptions.isAllowedAddress): 127.0.0.1 counts as public when reached as public.test. */
const publicTestIsPublic = (address: string, host: string) =>
  host === 'public.test' && address === '127.0.0.1';

function guarded(options: GuardedDispatcherOptions): Dispatcher {
  dispatcher = createGuardedDispatcher(options);
  return dispatcher;
}

const fetchAll = (url: string, d: Dispatcher) =>
  lastValueFrom(httpSource(url, { dispatcher: d, strategy: 'full' }).pipe(toArray()));

describe('createGuardedDispatcher: the resolved address is checked before any connection', () => {
  it.each([
    ['with the DNS cache (the dns interceptor pins the checked address)', 60_000],
    ['without it (net.connect resolves through the guard)', 0],
  ])(
    'refuses a name that resolves to 127.0.0.1, %s: the server sees no connection',
    async (_, dnsCacheMs) => {
      const dns = fakeDns({ 'loopback.test': ['127.0.0.1'] });
      const accepted = sim.connectionsAccepted();
      const url = `http://loopback.test:${sim.port}/clip.mp4`;
      const error = await sourceErrorOf(
        httpSource(url, { dispatcher: guarded({ lookup: dns.lookup, dnsCacheMs }) }),
      );
      expect(error.code).toBe('FF_ERR_URL_REFUSED');
      expect(error.message).toBe(
        `refused ${url}: loopback.test resolves to 127.0.0.1, a loopback address (127.0.0.0/8); ` +
          'pass --allow-private to allow',
      );
      expect(error.context).toMatchObject({
        url,
        reason: 'address',
        host: 'loopback.test',
        address: '127.0.0.1',
        kind: 'loopback',
      });
      expect(dns.asked).toEqual(['loopback.test']);
      expect(sim.connectionsAccepted() - accepted).toBe(0);
    },
  );

  it('refuses a name that resolves to 10.0.0.5, at resolution (no connection is attempted)', async () => {
    const dns = fakeDns({ 'private.test': ['10.0.0.5'] });
    const error = await sourceErrorOf(
      httpSource('http://private.test/clip.mp4', { dispatcher: guarded({ lookup: dns.lookup }) }),
    );
    expect(isUrlRefused(error)).toBe(true);
    expect(error.context).toMatchObject({ host: 'private.test', address: '10.0.0.5', kind: 'private' });
    expect(error.message).toContain('private.test resolves to 10.0.0.5, a private address (10.0.0.0/8)');
  });

  it('one non-public address among several refuses the name, whichever one would have been picked', async () => {
    const dns = fakeDns({ 'public.test': ['127.0.0.1', '::ffff:192.168.0.1'] });
    const accepted = sim.connectionsAccepted();
    const error = await sourceErrorOf(
      httpSource(`http://public.test:${sim.port}/clip.mp4`, {
        dispatcher: guarded({ lookup: dns.lookup, isAllowedAddress: publicTestIsPublic }),
      }),
    );
    expect(error.context).toMatchObject({ address: '::ffff:192.168.0.1', kind: 'private' });
    expect(sim.connectionsAccepted() - accepted).toBe(0);
  });

  it('refuses an IP literal without resolving anything', async () => {
    const dns = fakeDns({});
    const accepted = sim.connectionsAccepted();
    const error = await sourceErrorOf(
      httpSource(sim.urlFor('/clip.mp4'), { dispatcher: guarded({ lookup: dns.lookup }) }),
    );
    expect(error.context).toMatchObject({ reason: 'address', address: '127.0.0.1', host: '127.0.0.1' });
    expect(error.message).toContain(': 127.0.0.1 is a loopback address (127.0.0.0/8);');
    expect(dns.asked).toEqual([]);
    expect(sim.connectionsAccepted() - accepted).toBe(0);
  });

  it('a name the fake DNS does not know is a DNS failure, not a refusal', async () => {
    const error = await sourceErrorOf(
      httpSource('http://unknown.test/clip.mp4', { dispatcher: guarded({ lookup: fakeDns({}).lookup }) }),
    );
    expect(error.code).toBe('FF_ERR_DNS');
  });

  it.each([60_000, 0])('with allowPrivate the same URL is served (dnsCacheMs %i)', async (dnsCacheMs) => {
    const dns = fakeDns({ 'loopback.test': ['127.0.0.1'] });
    const accepted = sim.connectionsAccepted();
    const d = guarded({ lookup: dns.lookup, allowPrivate: true, dnsCacheMs });
    const chunks = await fetchAll(`http://loopback.test:${sim.port}/clip.mp4`, d);
    expect(concatBytes(chunks).equals(body)).toBe(true);
    expect(sim.connectionsAccepted() - accepted).toBe(1);
    expect(dns.asked).toEqual(['loopback.test']);
  });

  it.each([60_000, 0])(
    'with allowPrivate an IPv6 literal (here the IPv4-mapped loopback) is served (dnsCacheMs %i)',
    async (dnsCacheMs) => {
      const dns = fakeDns({});
      const d = guarded({ lookup: dns.lookup, allowPrivate: true, dnsCacheMs });
      const chunks = await fetchAll(`http://[::ffff:127.0.0.1]:${sim.port}/clip.mp4`, d);
      expect(concatBytes(chunks).equals(body)).toBe(true);
      expect(dns.asked).toEqual([]);
    },
  );

  it('the test hook lets 127.0.0.1 through only as public.test, through every check up to the socket', async () => {
    const dns = fakeDns({ 'public.test': ['127.0.0.1'] });
    const d = guarded({ lookup: dns.lookup, isAllowedAddress: publicTestIsPublic });
    // Twice: the second request uses the cached, pinned address and the kept-alive socket.
    for (let round = 0; round < 2; round += 1) {
      const chunks = await fetchAll(`http://public.test:${sim.port}/clip.mp4`, d);
      expect(concatBytes(chunks).equals(body)).toBe(true);
    }
    expect(dns.asked).toEqual(['public.test']);
    // The same address named directly, on the same dispatcher (whose pool holds a socket to it), is refused.
    const error = await sourceErrorOf(httpSource(sim.urlFor('/clip.mp4'), { dispatcher: d }));
    expect(error.context).toMatchObject({ reason: 'address', host: '127.0.0.1' });
  });
});

describe('createGuardedDispatcher: https after pinning', () => {
  it('verifies the certificate against the host name, not the pinned address', async () => {
    const tls = await startNetSim({ files: { '/clip.mp4': body }, http2: true });
    try {
      const dns = fakeDns({ localhost: ['127.0.0.1'], 'public.test': ['127.0.0.1'] });
      const d = guarded({
        lookup: dns.lookup,
        // FOR TESTS: both names stand in for public hosts; the certificate names only localhost.
        isAllowedAddress: (address, host) => address === '127.0.0.1' && host !== '127.0.0.1',
        ca: tls.tlsOptions!.ca,
        http2: true,
      });
      const chunks = await fetchAll(`https://localhost:${tls.port}/clip.mp4`, d);
      expect(concatBytes(chunks).equals(body)).toBe(true);
      const error = await sourceErrorOf(
        httpSource(`https://public.test:${tls.port}/clip.mp4`, { dispatcher: d }),
      );
      expect(error.code).toBe('FF_ERR_CONNECTION');
      expect(error.message).toMatch(/public\.test/);
      expect(dns.asked).toEqual(['localhost', 'public.test']);
    } finally {
      await tls.close();
    }
  });
});

describe('createGuardedDispatcher: every redirect hop is checked', () => {
  const redirectVia = (target: string) =>
    `http://public.test:${redirectorPort}/to?url=${encodeURIComponent(target)}`;

  it.each([
    ['an IP literal', () => `http://127.0.0.1:${sim.port}/clip.mp4`, { host: '127.0.0.1', kind: 'loopback' }],
    ['an IPv4-mapped literal', () => `http://[::ffff:127.0.0.1]:${sim.port}/clip.mp4`, { kind: 'loopback' }],
    [
      'a name resolving to loopback',
      () => `http://loopback.test:${sim.port}/clip.mp4`,
      { host: 'loopback.test' },
    ],
  ])('from an allowed host to %s: refused, the target sees no connection', async (_, target, context) => {
    const dns = fakeDns({ 'public.test': ['127.0.0.1'], 'loopback.test': ['127.0.0.1'] });
    const d = guarded({ lookup: dns.lookup, isAllowedAddress: publicTestIsPublic });
    const accepted = sim.connectionsAccepted();
    const requestsBefore = redirectorPaths.length;
    const error = await sourceErrorOf(httpSource(redirectVia(target()), { dispatcher: d }));
    expect(error.code).toBe('FF_ERR_URL_REFUSED');
    expect(error.context).toMatchObject({ reason: 'address', url: new URL(target()).href, ...context });
    // The first hop was served: the refusal came from the guard on the second.
    expect(redirectorPaths.length - requestsBefore).toBe(1);
    expect(sim.connectionsAccepted() - accepted).toBe(0);
  });

  it('from an allowed host to an allowed host: followed and served', async () => {
    const dns = fakeDns({ 'public.test': ['127.0.0.1'] });
    const d = guarded({ lookup: dns.lookup, isAllowedAddress: publicTestIsPublic });
    const chunks = await fetchAll(redirectVia(`http://public.test:${sim.port}/clip.mp4`), d);
    expect(concatBytes(chunks).equals(body)).toBe(true);
  });

  it('a hop to a host outside allowHosts is refused before it is resolved', async () => {
    const dns = fakeDns({ 'public.test': ['127.0.0.1'], 'elsewhere.test': ['127.0.0.1'] });
    const d = guarded({
      lookup: dns.lookup,
      isAllowedAddress: (address, host) => address === '127.0.0.1' && host.endsWith('.test'),
      allowHosts: ['public.test'],
    });
    const accepted = sim.connectionsAccepted();
    const error = await sourceErrorOf(
      httpSource(redirectVia(`http://elsewhere.test:${sim.port}/clip.mp4`), { dispatcher: d }),
    );
    expect(error.context).toMatchObject({ reason: 'host', host: 'elsewhere.test' });
    expect(dns.asked).toEqual(['public.test']);
    expect(sim.connectionsAccepted() - accepted).toBe(0);
  });
});
