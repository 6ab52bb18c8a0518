// Response JSON as Ganeti's serializer writes it where clients can tell: any JSON value at
// the top level (bare scalars included), non-ASCII escaped as \uXXXX, one trailing newline.
// Separators are compact; clients parse JSON and never compare bytes.

const NON_ASCII = /[\u0080-\uffff]/g;

export function encodeJson(value: unknown): string {
  let text = JSON.stringify(value === undefined ? null : value);
  if (NON_ASCII.test(text)) {
    NON_ASCII.lastIndex = 0;
    text = text.replace(NON_ASCII, (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"));
  }
  return text + "\n";
}
