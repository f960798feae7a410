import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, codes } from '../core/errors.js';

export interface TlsMaterial {
  key: string;
  cert: string;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(Object.assign(error, { stderr: String(stderr) }));
    });
  });
}

/**
 * A throw-away self-signed certificate for `localhost` and `127.0.0.1` (and `::1`), made with the `openssl`
 * command. The key is P-256 rather than RSA because it is generated in milliseconds. The temporary
 * directory is removed before this returns; the PEM text is all the simulator keeps.
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) when openssl is not installed or fails.
 */
export async function selfSignedCertificate(): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'netsim-tls-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '7',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ]);
    return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8') };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const problem =
      code === 'ENOENT'
        ? 'tls: not given, and the `openssl` command that would make a self-signed certificate is not on ' +
          'PATH; install OpenSSL or pass tls: { key, cert }'
        : `tls: not given, and openssl failed to make a self-signed certificate: ${
            String((error as { stderr?: unknown }).stderr ?? '').trim() || (error as Error).message
          }`;
    throw new ConfigError(codes.config.invalidOption, [problem], { option: 'tls' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
