import { open } from 'node:fs/promises';

/** Most bytes read from /etc/passwd or /etc/group: far above any local account database. */
export const MAX_ACCOUNT_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Reads a colon-separated account database (/etc/passwd, /etc/group) as text, at most
 * {@link MAX_ACCOUNT_FILE_BYTES}: an unreadable file reads as empty, an oversized one as its whole lines within the
 * limit. Either way a name not found is the caller's to report, with the hint to give a number instead (Node has no
 * getpwnam/getgrnam, so NSS-only accounts are reached by number).
 */
export async function readAccountFile(file: string): Promise<string> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (handle === undefined) return '';
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < MAX_ACCOUNT_FILE_BYTES) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, MAX_ACCOUNT_FILE_BYTES - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length);
      if (bytesRead === 0) return Buffer.concat(chunks).toString('utf8');
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    // Cut off at the limit: a partial last line could name a wrong id, so only whole lines count.
    const text = Buffer.concat(chunks).toString('utf8');
    return text.slice(0, text.lastIndexOf('\n') + 1);
  } catch {
    return '';
  } finally {
    await handle.close();
  }
}

/** The fields of the first line whose first field is `name`, or undefined. */
export function findAccountEntry(text: string, name: string): string[] | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return fields;
  }
  return undefined;
}
