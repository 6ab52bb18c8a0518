// A small XML reader and writer for libvirt domain documents: elements, attributes, text,
// the five predefined entities and character references. Comments, processing instructions
// and CDATA are read; a DOCTYPE is refused (libvirt documents have none, and entity
// declarations are how XML parsers get abused).

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

export class XmlError extends Error {}

const NAME = /[A-Za-z_:][-A-Za-z0-9_.:]*/y;
const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(text: string, at: number): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new XmlError(`bare '&' near offset ${at}`);
    if (ref.startsWith("#")) {
      const code = ref[1] === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code > 0x10ffff) throw new XmlError(`invalid character reference ${m}`);
      return String.fromCodePoint(code);
    }
    const v = ENTITIES[ref];
    if (v === undefined) throw new XmlError(`unknown entity ${m}`);
    return v;
  });
}

/** Parses a document with one root element; throws XmlError with the reason. */
export function parseXml(text: string): XmlElement {
  let pos = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  const fail = (why: string): never => {
    throw new XmlError(`${why} at offset ${pos}`);
  };
  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(text);
    if (!m) fail("expected a name");
    pos += m![0].length;
    return m![0];
  };
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };
  const addChild = (node: XmlNode) => {
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(node);
    else if (typeof node === "string") {
      if (node.trim() !== "") fail("text outside the root element");
    } else {
      if (root) fail("more than one root element");
      root = node;
    }
  };

  while (pos < text.length) {
    if (text[pos] !== "<") {
      const end = text.indexOf("<", pos);
      const raw = text.slice(pos, end < 0 ? text.length : end);
      addChild(decodeEntities(raw, pos));
      pos = end < 0 ? text.length : end;
      continue;
    }
    if (text.startsWith("<!--", pos)) {
      const end = text.indexOf("-->", pos + 4);
      if (end < 0) fail("unterminated comment");
      pos = end + 3;
    } else if (text.startsWith("<![CDATA[", pos)) {
      const end = text.indexOf("]]>", pos + 9);
      if (end < 0) fail("unterminated CDATA section");
      if (stack.length === 0) fail("CDATA outside the root element");
      addChild(text.slice(pos + 9, end));
      pos = end + 3;
    } else if (text.startsWith("<?", pos)) {
      const end = text.indexOf("?>", pos + 2);
      if (end < 0) fail("unterminated processing instruction");
      pos = end + 2;
    } else if (text.startsWith("<!", pos)) {
      fail("DOCTYPE and other declarations are not accepted");
    } else if (text.startsWith("</", pos)) {
      pos += 2;
      const name = readName();
      skipSpace();
      if (text[pos] !== ">") fail(`expected '>' closing </${name}`);
      pos++;
      const open = stack.pop();
      if (!open || open.name !== name) fail(`closing tag </${name}> does not match <${open?.name ?? "nothing"}>`);
    } else {
      pos++;
      const el: XmlElement = { name: readName(), attrs: {}, children: [] };
      for (;;) {
        skipSpace();
        if (text.startsWith("/>", pos)) {
          pos += 2;
          addChild(el);
          break;
        }
        if (text[pos] === ">") {
          pos++;
          addChild(el);
          stack.push(el);
          break;
        }
        if (pos >= text.length) fail(`unterminated tag <${el.name}>`);
        const attr = readName();
        skipSpace();
        if (text[pos] !== "=") fail(`attribute ${attr} has no value`);
        pos++;
        skipSpace();
        const quote = text[pos];
        if (quote !== '"' && quote !== "'") fail(`attribute ${attr} value is not quoted`);
        const end = text.indexOf(quote, pos + 1);
        if (end < 0) fail(`unterminated value of attribute ${attr}`);
        if (attr in el.attrs) fail(`attribute ${attr} given twice`);
        el.attrs[attr] = decodeEntities(text.slice(pos + 1, end), pos);
        pos = end + 1;
      }
    }
  }
  if (stack.length > 0) throw new XmlError(`element <${stack[stack.length - 1].name}> is not closed`);
  if (!root) throw new XmlError("no root element");
  return root;
}

export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c): c is XmlElement => typeof c !== "string" && c.name === name);
}

export function childrenNamed(el: XmlElement | undefined, name: string): XmlElement[] {
  return (el?.children ?? []).filter((c): c is XmlElement => typeof c !== "string" && c.name === name);
}

export function elements(el: XmlElement | undefined): XmlElement[] {
  return (el?.children ?? []).filter((c): c is XmlElement => typeof c !== "string");
}

/** The element's text content (its own text nodes, trimmed). */
export function textOf(el: XmlElement | undefined): string | undefined {
  if (!el) return undefined;
  return el.children.filter((c): c is string => typeof c === "string").join("").trim();
}

/** Replaces the element's content with one text node. */
export function setText(el: XmlElement, value: string): void {
  el.children = [value];
}

const escapeText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const escapeAttr = (s: string) => escapeText(s).replace(/'/g, "&apos;");

/** Writes the element back as XML (attributes in single quotes, as PVC's lxml output has them). */
export function serializeXml(el: XmlElement): string {
  const attrs = Object.entries(el.attrs).map(([k, v]) => ` ${k}='${escapeAttr(v)}'`).join("");
  if (el.children.length === 0) return `<${el.name}${attrs}/>`;
  const inner = el.children.map((c) => (typeof c === "string" ? escapeText(c) : serializeXml(c))).join("");
  return `<${el.name}${attrs}>${inner}</${el.name}>`;
}

/** Builds an element: `h("source", {bridge: "vmbr1"})`, `h("name", {}, "vm1")`. */
export function h(name: string, attrs: Record<string, string> = {}, ...children: (XmlNode | undefined)[]): XmlElement {
  return { name, attrs, children: children.filter((c): c is XmlNode => c !== undefined) };
}
