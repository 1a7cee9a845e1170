// AMR and AMR-WB storage files: nothing to remove, the file is kept whole once its magic, channel
// description and first frame header check out; the JavaScript twin of metadata/amr.py (read its
// docstring for the why).
import { CannotClean } from "./source.mjs";

// Payload bytes by frame type (null: reserved); RFC 4867 table 1a/1b. 15 is NO_DATA, WB 14 SPEECH_LOST.
const NB_SIZES = [12, 13, 15, 17, 19, 20, 26, 31, 5, null, null, null, null, null, null, 0];
const WB_SIZES = [17, 23, 32, 36, 40, 46, 50, 58, 60, 5, null, null, null, null, 0, 0];
const MAGICS = [ // longest first: "#!AMR" starts every one of them
  ["#!AMR-WB_MC1.0\n", "audio/amr-wb", WB_SIZES, true],
  ["#!AMR_MC1.0\n", "audio/amr", NB_SIZES, true],
  ["#!AMR-WB\n", "audio/amr-wb", WB_SIZES, false],
  ["#!AMR\n", "audio/amr", NB_SIZES, false],
];

export async function plan(source) {
  const head = await source.readAt(0, Math.min(source.size, 20));
  const text = String.fromCharCode(...head);
  const match = MAGICS.find(([magic]) => text.startsWith(magic));
  if (!match) throw new CannotClean("not an AMR file");
  const [magic, mime, sizes, multichannel] = match;
  let pos = magic.length;
  if (multichannel) {
    pos += 4;
    const described = head.length >= pos ? new DataView(head.buffer, head.byteOffset).getUint32(magic.length, false) : 0;
    if (described >>> 4 || !(described & 0xf)) throw new CannotClean("an AMR channel description we do not know"); // 28 reserved bits, then the channel count
  }
  if (pos >= head.length) throw new CannotClean("an AMR file without a frame");
  const frame = head[pos];
  const size = sizes[(frame >> 3) & 0xf];
  if (frame & 0x83 || size === null || pos + 1 + size > source.size) throw new CannotClean("an AMR file whose first frame is not one");
  return { mime, pieces: [{ start: 0, end: source.size }], found: [] };
}
