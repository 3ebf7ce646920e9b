import { TidemarkError } from '../errors.js';

/**
 * `tablespace_map` (in a base backup made with TABLESPACE_MAP): one `<oid> <path>` line per
 * tablespace, the path with `\`, CR and LF escaped by a backslash. At the start of recovery
 * PostgreSQL creates `pg_tblspc/<oid>` links from it, so it must name the NEW locations.
 */

export function parseTablespaceMap(text: string): Map<number, string> {
  const map = new Map<number, string>();
  // Unescaped CR/LF end a line; escaped ones are part of the path.
  let line = '';
  const lines: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      line += text[i + 1];
      i += 1;
    } else if (ch === '\n' || ch === '\r') {
      if (line !== '') lines.push(line);
      line = '';
    } else {
      line += ch;
    }
  }
  if (line !== '') lines.push(line);
  for (const entry of lines) {
    const space = entry.indexOf(' ');
    const oid = Number(entry.slice(0, space));
    if (space <= 0 || !Number.isInteger(oid) || oid <= 0) {
      throw new TidemarkError('corrupt_object', `The backup's tablespace_map has an unreadable line ("${entry.slice(0, 80)}"); the base backup is damaged.`);
    }
    map.set(oid, entry.slice(space + 1));
  }
  return map;
}

export function renderTablespaceMap(map: ReadonlyMap<number, string>): string {
  let text = '';
  for (const [oid, path] of map) text += `${oid} ${path.replace(/[\\\r\n]/g, (c) => `\\${c}`)}\n`;
  return text;
}

/** The map with every tablespace moved to its new location; each one must have one. */
export function relocateTablespaces(text: string, newPaths: Readonly<Record<number, string>>, nodeId: string): string {
  const map = parseTablespaceMap(text);
  for (const oid of map.keys()) {
    const path = newPaths[oid];
    if (!path) throw new TidemarkError('invalid_input', `Node ${nodeId} has tablespace ${oid} (at ${map.get(oid)} on the source), but no new location was given for it.`);
    map.set(oid, path);
  }
  return renderTablespaceMap(map);
}
