import { constants } from 'node:fs';
import { access, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Longest control-id part of a file name. */
const MAX_ID_CHARS = 64;

/**
 * The file name part made from a sender's MSH-10: letters, digits, `.`, `_` and `-` kept,
 * anything else (path separators, spaces, control characters) replaced by `_`, at most 64
 * characters.
 */
export function safeControlId(controlId: string): string {
  const safe = controlId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, MAX_ID_CHARS);
  return safe === '' ? 'no-control-id' : safe;
}

/** `2026-03-15T08:30:00.123Z` → `20260315T083000.123Z`: sorts by arrival, legal on every file system. */
export function fileStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}

/**
 * A folder received messages are written to, one file each, named from the arrival time and
 * the control id (`20260315T083000.123Z_MSG00001.hl7`; `_2`, `_3`… when the name is taken).
 * Each file is written under a temporary name, flushed to disk and renamed, so a reader never
 * sees a partial message, and a file that exists is complete.
 */
export class MessageDirectory {
  /** Names being written, so that two messages in flight never pick the same one. */
  private readonly reserved = new Set<string>();

  private constructor(readonly dir: string) {}

  /** Creates the folder when missing (readable by its owner only) and checks it is writable. */
  static async open(dir: string): Promise<MessageDirectory> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
    return new MessageDirectory(dir);
  }

  /** Writes `bytes` exactly as received; resolves with the file name once it is on disk. */
  async write(bytes: Buffer, controlId: string, at: Date): Promise<string> {
    const base = `${fileStamp(at)}_${safeControlId(controlId)}`;
    let name = '';
    for (let n = 1; ; n++) {
      name = n === 1 ? `${base}.hl7` : `${base}_${n}.hl7`;
      if (this.reserved.has(name)) continue;
      // Reserved before the check, which awaits: a concurrent write moves on to the next name.
      this.reserved.add(name);
      if (!(await exists(join(this.dir, name)))) break;
      this.reserved.delete(name);
    }
    const temp = join(this.dir, `.${name}.${process.pid}.tmp`);
    try {
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, join(this.dir, name));
      await this.syncDir();
      return name;
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    } finally {
      this.reserved.delete(name);
    }
  }

  /** Makes the rename itself durable. Some platforms cannot open a folder for this: skipped there. */
  private async syncDir(): Promise<void> {
    let dir;
    try {
      dir = await open(this.dir, 'r');
    } catch (err) {
      if (['EISDIR', 'EPERM', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
      throw err;
    }
    try {
      await dir.sync();
    } catch (err) {
      if (!['EINVAL', 'EPERM', 'EBADF'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    } finally {
      await dir.close();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
