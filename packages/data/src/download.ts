// Downloads one IDX file into a directory (the cache), verified before it becomes visible: the bytes
// are fetched whole, decompressed, checked against the expected SHA-256, written to a hidden temp file
// in the same directory, fsynced, then renamed into place. An interrupted or wrong download therefore
// never leaves a file under the final name that a later run would trust. Called by the loader.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DdpError } from '@tfjs-ddp/core';
import { checkSha256 } from './checksum';
import { INSTALL_HINT } from './fashion-mnist-files';
import { gunzipOrThrow, isGzip } from './idx-reader';

/** The part of a fetch Response the downloader uses. */
export interface FetchResponseLike {
  ok: boolean;
  status: number;
  statusText: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A `fetch`-compatible function; inject one in tests (the global fetch is the default). */
export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<FetchResponseLike>;

/** What to download and where. */
export interface DownloadIdxOptions {
  /** Full URL of the file (usually `<base><name>.gz`). */
  url: string;
  /** Destination directory, created if missing. */
  dir: string;
  /** Base file name without `.gz`; saved as `<name>.gz` when the body is gzip, else `<name>`. */
  name: string;
  /** Expected SHA-256 (hex) of the decompressed bytes. */
  sha256: string;
  fetch?: FetchLike;
  /** Whole-request timeout. Default 5 minutes (26 MB on a slow link). */
  timeoutMs?: number;
  /** Next step appended to errors. Default: install the Debian package or pass --data-dir. */
  hint?: string;
}

/**
 * Downloads, verifies and atomically stores one IDX file.
 * @returns the path of the stored file
 * @throws DdpError E_DATA_DOWNLOAD when the request fails, times out, answers non-2xx, or breaks off
 * @throws DdpError E_DATA_TRUNCATED / E_DATA_FORMAT when the body is not valid gzip
 * @throws DdpError E_DATA_CHECKSUM when the decompressed bytes have another SHA-256
 */
export async function downloadIdx(options: DownloadIdxOptions): Promise<string> {
  const { url, dir, name, sha256 } = options;
  const hint = options.hint ?? INSTALL_HINT;
  const doFetch: FetchLike = options.fetch ?? ((u, init) => fetch(u, init));
  const signal = AbortSignal.timeout(options.timeoutMs ?? 300_000);
  let response: FetchResponseLike;
  try {
    response = await doFetch(url, { signal });
  } catch (e) {
    throw new DdpError('E_DATA_DOWNLOAD', `could not download ${url} (${describe(e)})`, hint, { cause: e });
  }
  if (!response.ok) {
    throw new DdpError(
      'E_DATA_DOWNLOAD',
      `${url} answered HTTP ${response.status} ${response.statusText}`,
      hint,
    );
  }
  let body: Uint8Array;
  try {
    body = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    throw new DdpError('E_DATA_DOWNLOAD', `download of ${url} broke off (${describe(e)})`, hint, {
      cause: e,
    });
  }
  const gz = isGzip(body);
  const idx = gz ? await gunzipOrThrow(body, url, hint) : body;
  checkSha256(idx, sha256, url, hint);

  await mkdir(dir, { recursive: true });
  const finalName = gz ? `${name}.gz` : name;
  const finalPath = join(dir, finalName);
  // Hidden, unique, and never one of the names the loader looks for.
  const tmp = join(dir, `.${finalName}.${process.pid}-${randomBytes(4).toString('hex')}.part`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, finalPath);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return finalPath;
}

/** Error text with the network cause (fetch wraps ECONNREFUSED etc. in `cause`). */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined;
  const causeText =
    typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
  return causeText ? `${e.message}: ${causeText}` : e.message;
}
