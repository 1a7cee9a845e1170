// Where a cleaner reads from and what it makes: the JavaScript twin of metadata/_source.py.
// A cleaner reads a File through readAt (small slices, never the whole file) and answers with a
// plan whose pieces are ranges of the original ({start, end}) or small new byte strings
// (Uint8Array). toBlob turns the pieces into a Blob of slices: no copy of a video is ever made.

export class CannotClean extends Error {
  constructor(reason) {
    super(reason);
    this.name = "CannotClean";
  }
}

/** Random access to a File or Blob, read in slices. */
export class BlobSource {
  constructor(blob) {
    this.blob = blob;
    this.size = blob.size;
  }

  /** Exactly n bytes at offset, or CannotClean when the file ends before them. */
  async readAt(offset, n) {
    if (offset < 0 || n < 0 || offset + n > this.size) throw new CannotClean("the file ends inside a part it announces");
    return new Uint8Array(await this.blob.slice(offset, offset + n).arrayBuffer());
  }
}

/** Random access to bytes already in memory (tests, and small headers read once). */
export class BytesSource {
  constructor(bytes) {
    this.bytes = bytes;
    this.size = bytes.length;
  }

  async readAt(offset, n) {
    if (offset < 0 || n < 0 || offset + n > this.size) throw new CannotClean("the file ends inside a part it announces");
    return this.bytes.slice(offset, offset + n);
  }
}

const pieceLength = (p) => (p instanceof Uint8Array ? p.length : p.end - p.start);

/** Adjacent ranges joined, empty pieces dropped: the same normal form as merged() in Python. */
export function merged(pieces) {
  const out = [];
  for (const p of pieces) {
    if (pieceLength(p) === 0) continue;
    const last = out[out.length - 1];
    if (!(p instanceof Uint8Array) && last && !(last instanceof Uint8Array) && last.end === p.start) {
      out[out.length - 1] = { start: last.start, end: p.end };
    } else if (p instanceof Uint8Array && last instanceof Uint8Array) {
      out[out.length - 1] = concat([last, p]);
    } else {
      out.push(p);
    }
  }
  return out;
}

/** The byte arrays `parts` one after the other, in a new array. */
export function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sizeOf = (pieces) => pieces.reduce((sum, p) => sum + pieceLength(p), 0);

/** The cleaned file as a Blob: slices of the original and the new bytes, in order. */
export function toBlob(blob, pieces, type) {
  return new Blob(pieces.map((p) => (p instanceof Uint8Array ? p : blob.slice(p.start, p.end))), { type });
}

/** One finding, with its value made printable and short, as Finding does in Python. */
export function finding(kind, where, value = "") {
  const printable = [...String(value)].map((ch) => (/[\p{L}\p{N}\p{P}\p{S}\p{Zs}]/u.test(ch) ? ch : " ")).join("");
  return { kind, where, value: [...printable.split(/\s+/).filter(Boolean).join(" ")].slice(0, 80).join("") };
}
