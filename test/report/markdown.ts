/** Checks that markdown tables render as GFM reads them: a header, a delimiter row, rows of as many cells. */
import assert from 'node:assert/strict';

/** A row's cells: split on pipes that are not escaped, without the outer pipes. */
export function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim());
}

/** The tables of a document (runs of lines starting with a pipe), each checked well-formed; returns their rows' cells. */
export function assertTables(md: string): string[][][] {
  const tables: string[][] = [];
  let current: string[] | null = null;
  for (const line of md.split('\n')) {
    if (line.startsWith('|')) {
      if (current === null) tables.push((current = []));
      current.push(line);
    } else {
      current = null;
    }
  }
  return tables.map((rows) => {
    assert.ok(rows.length >= 2, `a table has a header and a delimiter row: ${rows.join('\n')}`);
    const parsed = rows.map(cells);
    const width = parsed[0].length;
    parsed.forEach((r, i) => assert.equal(r.length, width, `row ${i + 1} of ${rows[0]} has ${r.length} cells, the header ${width}: ${rows[i]}`));
    for (const c of parsed[1]) assert.match(c, /^:?-{3,}:?$/, `delimiter row: ${rows[1]}`);
    return parsed;
  });
}
