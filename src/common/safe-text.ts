// Names, file names and messages come from other users (a public image shows
// the file it was made from): C0 and C1 controls, DEL and the bidirectional
// overrides are shown as escapes, so nothing printed can drive the terminal
// (ESC sequences can retitle it, move the cursor, rewrite earlier lines) or
// make text read differently from what it is.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every terminal control character written as `\xHH` or `\uHHHH`. */
export function safeText(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
