/**
 * Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a generated document, or appends the
 * marked section: benches that share docs/RESULTS.md each own one section.
 */
export function replaceSection(doc: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${content.trim()}\n${end}`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i >= 0 && j > i) return doc.slice(0, i) + block + doc.slice(j + end.length);
  return doc.trimEnd() + "\n\n" + block + "\n";
}

/** The marked section (markers included), or "" when the document has none. */
export function extractSection(doc: string, name: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  return i >= 0 && j > i ? doc.slice(i, j + end.length) : "";
}
