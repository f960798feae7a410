import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';

/** What the simulator found for a URL path. */
export type CatalogEntry =
  | { kind: 'found'; bytes: Uint8Array; contentType: string; lastModified: Date | undefined }
  | { kind: 'not-found' }
  | { kind: 'forbidden' }
  | { kind: 'failed'; error: unknown };

export interface FileCatalog {
  /** Looks up a decoded URL path (`/clips/a.mp4`). Never rejects. */
  lookup(path: string): Promise<CatalogEntry>;
}

const contentTypes: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.ts': 'video/mp2t',
  '.mkv': 'video/x-matroska',
  '.webm': 'video/webm',
  '.json': 'application/json',
};

/** The Content-Type a CDN would send for a path, by its extension. */
export function contentTypeFor(path: string): string {
  return contentTypes[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** True when a decoded URL path could name something outside the served directory. */
function escapesRoot(path: string): boolean {
  return path.includes('\0') || path.includes('\\') || path.split('/').some((segment) => segment === '..');
}

interface CachedFile {
  mtimeMs: number;
  size: number;
  bytes: Uint8Array;
}

/**
 * The files a simulator serves: in-memory `files` first, then the directory `root` (already resolved
 * with realpath). Files on disk are read whole and kept in memory; the cache entry is dropped when the
 * file's size or mtime changes, so fixtures rewritten during a test are seen. Files are small (tens of MB
 * at most), and serving from memory keeps the pacing free of disk latency.
 */
export function createFileCatalog(
  realRoot: string | undefined,
  files: Readonly<Record<string, Uint8Array>> | undefined,
): FileCatalog {
  const cache = new Map<string, CachedFile>();

  async function fromDisk(root: string, path: string): Promise<CatalogEntry> {
    let real: string;
    try {
      real = await realpath(join(root, path));
    } catch (error) {
      return notFoundOrFailed(error);
    }
    // A symbolic link inside the root may point outside it; such a file is not served.
    if (real !== root && !real.startsWith(root + sep)) return { kind: 'forbidden' };
    try {
      const info = await stat(real);
      if (!info.isFile()) return { kind: 'not-found' };
      const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000);
      const cached = cache.get(real);
      if (cached !== undefined && cached.mtimeMs === info.mtimeMs && cached.size === info.size) {
        return { kind: 'found', bytes: cached.bytes, contentType: contentTypeFor(path), lastModified };
      }
      const bytes = new Uint8Array(await readFile(real));
      cache.set(real, { mtimeMs: info.mtimeMs, size: info.size, bytes });
      return { kind: 'found', bytes, contentType: contentTypeFor(path), lastModified };
    } catch (error) {
      return notFoundOrFailed(error);
    }
  }

  return {
    async lookup(path) {
      if (escapesRoot(path)) return { kind: 'forbidden' };
      if (files !== undefined && Object.hasOwn(files, path)) {
        const bytes = files[path];
        if (bytes !== undefined) {
          return { kind: 'found', bytes, contentType: contentTypeFor(path), lastModified: undefined };
        }
      }
      if (realRoot === undefined) return { kind: 'not-found' };
      return fromDisk(realRoot, path);
    },
  };
}

function notFoundOrFailed(error: unknown): CatalogEntry {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return { kind: 'not-found' };
  if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return { kind: 'forbidden' };
  return { kind: 'failed', error };
}
