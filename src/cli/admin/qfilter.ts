// Ganeti's query language as gnt-* `--filter` takes it (Ganeti's qlang.py), turned into the
// Query2 filter lists RAPI's /2/query takes:
//   name =~ m/^web/i and (pnode == "node1" or not admin_state == "up")
//   "web1" in tags      offline      vcpus >= 2      name != 'x' or not drained
// Binary operators: == != < <= > >= and =~ (a regular expression, /re/ or m/re/, flag i);
// `VALUE in FIELD` and `VALUE not in FIELD` for list fields; a bare field is a truth test.

export type QueryFilter = [string, ...unknown[]];

type Token = { kind: "word" | "string" | "number" | "regex" | "op" | "paren"; text: string; value?: string | number };

export class FilterSyntaxError extends Error {}

const OPERATORS = ["==", "!=", "<=", ">=", "=~", "<", ">"];

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new FilterSyntaxError(`${what} at column ${i + 1} of the filter ${JSON.stringify(text)}`);
  };
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "(" || c === ")") {
      out.push({ kind: "paren", text: c });
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail("an unterminated string");
      out.push({ kind: "string", text: text.slice(i, end + 1), value: text.slice(i + 1, end) });
      i = end + 1;
    } else if (c === "/" || (c === "m" && text[i + 1] === "/")) {
      const start = c === "m" ? i + 2 : i + 1;
      let end = start;
      while (end < text.length && text[end] !== "/") end += text[end] === "\\" ? 2 : 1;
      if (end >= text.length) fail("an unterminated regular expression");
      let flags = "";
      let j = end + 1;
      while (j < text.length && /[a-z]/.test(text[j])) flags += text[j++];
      if (flags !== "" && flags !== "i") fail(`an unknown regular expression flag '${flags}'`);
      const body = text.slice(start, end).replace(/\\\//g, "/");
      out.push({ kind: "regex", text: text.slice(i, j), value: flags === "i" ? `(?i)${body}` : body });
      i = j;
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i));
      if (op) {
        out.push({ kind: "op", text: op });
        i += op.length;
        continue;
      }
      const m = /^[A-Za-z0-9_./:-]+/.exec(text.slice(i));
      if (!m) fail(`an unexpected '${c}'`);
      const word = m![0];
      out.push(/^-?\d+$/.test(word) ? { kind: "number", text: word, value: Number(word) } : { kind: "word", text: word });
      i += word.length;
    }
  }
  return out;
}

const KEYWORDS = new Set(["and", "or", "not", "in"]);
const OP_NAMES: Record<string, string> = { "==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };

/** The Query2 filter of a query-language text; a FilterSyntaxError says where it went wrong. */
export function parseQueryFilter(text: string): QueryFilter {
  const tokens = tokenize(text);
  let at = 0;
  const peek = () => tokens[at];
  const fail = (what: string): never => {
    throw new FilterSyntaxError(`${what} in the filter ${JSON.stringify(text)}`);
  };
  const isWord = (t: Token | undefined, w: string) => t?.kind === "word" && t.text === w;
  const value = (): string | number => {
    const t = tokens[at++];
    if (!t) return fail("a value missing at the end");
    if (t.kind === "string" || t.kind === "number") return t.value!;
    if (t.kind === "word" && !KEYWORDS.has(t.text)) return t.text;
    return fail(`a value expected, not '${t.text}'`);
  };
  const field = (): string => {
    const t = tokens[at++];
    if (t?.kind !== "word" || KEYWORDS.has(t.text)) return fail(`a field name expected${t ? `, not '${t.text}'` : " at the end"}`);
    return t.text;
  };
  const condition = (): QueryFilter => {
    const t = peek();
    if (t?.kind === "string" || t?.kind === "number" || (t?.kind === "word" && (isWord(tokens[at + 1], "in") || (isWord(tokens[at + 1], "not") && isWord(tokens[at + 2], "in"))))) {
      // VALUE in FIELD, VALUE not in FIELD
      const v = value();
      const negated = isWord(peek(), "not");
      if (negated) at++;
      if (!isWord(tokens[at++], "in")) fail(`'in' expected after ${JSON.stringify(v)}`);
      const contains: QueryFilter = ["=[]", field(), v];
      return negated ? ["!", contains] : contains;
    }
    const name = field();
    const op = peek();
    if (op?.kind !== "op") return ["?", name];
    at++;
    if (op.text === "=~") {
      const re = tokens[at++];
      if (re?.kind !== "regex") fail(`a regular expression (/…/ or m/…/) expected after '${name} =~'`);
      return ["=~", name, re!.value];
    }
    return [OP_NAMES[op.text], name, value()];
  };
  const unary = (): QueryFilter => {
    if (isWord(peek(), "not")) {
      at++;
      return ["!", unary()];
    }
    if (peek()?.kind === "paren" && peek().text === "(") {
      at++;
      const inner = or();
      if (tokens[at++]?.text !== ")") fail("a ')' missing");
      return inner;
    }
    return condition();
  };
  /** One operand, or several joined by `word` (and binds tighter than or). */
  const joined = (word: string, op: string, operand: () => QueryFilter) => (): QueryFilter => {
    const parts = [operand()];
    while (isWord(peek(), word)) {
      at++;
      parts.push(operand());
    }
    return parts.length === 1 ? parts[0] : [op, ...parts];
  };
  const and = joined("and", "&", unary);
  const or = joined("or", "|", and);
  if (tokens.length === 0) fail("nothing");
  const result = or();
  if (at < tokens.length) fail(`'${tokens[at].text}' unexpected`);
  return result;
}

/** gnt-*'s names on the command line: a filter matching any of them (by the name field). */
export function namesFilter(names: readonly string[], field = "name"): QueryFilter | null {
  if (names.length === 0) return null;
  return ["|", ...names.map((n): QueryFilter => ["=", field, /^\d+$/.test(n) && field === "id" ? Number(n) : n])];
}
