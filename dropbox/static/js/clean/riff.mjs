// WAV (RIFF/WAVE, and RF64): only fmt, data and fact survive; the JavaScript twin of metadata/riff.py
// (read its docstring for the why). LIST/INFO, bext, iXML, id3, _PMX and every other chunk is dropped.
import { PLACE } from "./mp3.mjs";
import { CannotClean, finding } from "./source.mjs";

const MAX_READ = 1 << 20; // a LIST or bext chunk larger than this is dropped without reading its fields
const MAX_FMT = 1 << 16;
const UNKNOWN = 0xffffffff;
const INFO_KINDS = {
  IART: "person", IENG: "person", ICOP: "person", ICMS: "person", ITCH: "person",
  ICRD: "time", IDIT: "time", ISFT: "software", ISRC: "other",
}; // any other INFO field is text (INAM, ICMT, IPRD, IKEY...)

const ascii = (bytes, from, to) => String.fromCharCode(...bytes.subarray(from, to));
const name = (bytes, from) => ascii(bytes, from, from + 4).replace(/ +$/, "");
const u32 = (bytes, at) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);

/** A field that holds a position (an ISO 6709 string in a comment) is a place. */
const placed = (kind, value) => (PLACE.test(value) ? "place" : kind);

/** A NUL-terminated Latin-1 field; only its start (a finding shows 80 characters). */
function text(bytes) {
  const nul = bytes.indexOf(0);
  return ascii(bytes, 0, Math.min(nul < 0 ? bytes.length : nul, 256));
}

export async function plan(source) {
  const head = source.size >= 12 ? await source.readAt(0, 12) : new Uint8Array(12);
  const magic = ascii(head, 0, 4);
  if ((magic !== "RIFF" && magic !== "RF64") || ascii(head, 8, 12) !== "WAVE") throw new CannotClean("not a RIFF/WAVE file");
  const riffEnd = 8 + u32(head, 4);
  const walk = new Walk(source, riffEnd >= 12 && riffEnd <= source.size ? riffEnd : null, magic === "RF64");
  await walk.run();
  return walk.plan();
}

/** One pass over the chunks, front to back, collecting the kept ones and the findings. */
class Walk {
  constructor(source, riffEnd, rf64) {
    Object.assign(this, { source, riffEnd, rf64, limit: riffEnd ?? source.size });
    this.kept = []; // [id, body start, body length]
    this.found = [];
    this.blockAlign = 1;
    this.ds64Data = null;
  }

  async run() {
    const size = this.source.size;
    let pos = 12;
    while (pos + 8 <= this.limit) {
      const header = await this.source.readAt(pos, 8);
      const cid = ascii(header, 0, 4);
      let length = u32(header, 4);
      const body = pos + 8;
      if (cid === "data") {
        if (this.data(body, length)) return; // the samples run to the end: nothing after them is a chunk
        length = this.kept[this.kept.length - 1][2];
      } else if (body + length > size) {
        throw new CannotClean(`the WAV chunk '${name(header, 0)}' runs past the end of the file`);
      } else {
        await this.chunk(cid, body, length);
      }
      pos = Math.min(body + length + (length & 1), size);
    }
    if (pos < size) this.found.push(finding("other", "trailing data", `${size - pos} bytes`));
  }

  /** Keeps the data chunk; true when its size was unknown or too large and it was clamped. */
  data(body, length) {
    if (this.kept.some((k) => k[0] === "data")) throw new CannotClean("a WAV file with two data chunks");
    if (this.rf64 && length === UNKNOWN && this.ds64Data !== null) length = this.ds64Data;
    const unknown = length === UNKNOWN || (length === 0 && this.riffEnd === null);
    if (unknown || body + length > this.source.size) {
      const room = this.source.size - body;
      this.kept.push(["data", body, room - (room % this.blockAlign)]);
      return true;
    }
    this.kept.push(["data", body, length]);
    return false;
  }

  async chunk(cid, body, length) {
    if (cid === "fmt ") await this.fmt(body, length);
    else if (cid === "fact") {
      if (length > MAX_FMT || this.kept.some((k) => k[0] === "fact")) throw new CannotClean("the WAV fact chunk is too large or repeated");
      this.kept.push([cid, body, length]);
    } else if (cid === "ds64" && this.rf64) await this.ds64(body, length);
    else if (cid === "LIST") await this.list(body, length);
    else if (cid === "bext") await this.bext(body, length);
    else this.found.push(finding("other", cid.replace(/ +$/, "")));
  }

  async fmt(body, length) {
    if (this.kept.some((k) => k[0] === "fmt ") || length < 14 || length > MAX_FMT) {
      throw new CannotClean("the WAV fmt chunk is missing its fields or repeated");
    }
    const fields = await this.source.readAt(body, 14);
    this.blockAlign = Math.max(1, fields[12] | (fields[13] << 8));
    this.kept.push(["fmt ", body, length]);
  }

  async ds64(body, length) {
    if (length < 28 || length > MAX_FMT) throw new CannotClean("the RF64 ds64 chunk is malformed");
    const fields = await this.source.readAt(body, 28);
    this.ds64Data = Number(new DataView(fields.buffer, fields.byteOffset).getBigUint64(8, true));
  }

  async list(body, length) {
    if (length < 4 || length > MAX_READ) {
      this.found.push(finding("other", "LIST"));
      return;
    }
    const data = await this.source.readAt(body, length);
    const form = name(data, 0);
    if (form !== "INFO") this.found.push(finding("other", `LIST/${form}`));
    else this.found.push(...infoFields(data));
  }

  async bext(body, length) {
    if (length < 346 || length > MAX_READ) this.found.push(finding("other", "bext"));
    else this.found.push(...bextFields(await this.source.readAt(body, length)));
  }

  plan() {
    const ids = this.kept.map((k) => k[0]);
    if (!ids.includes("fmt ") || !ids.includes("data")) throw new CannotClean("a WAV file without its fmt or data chunk");
    const pieces = [];
    for (const [cid, body, length] of this.kept) {
      pieces.push(header(cid, this.rf64 && cid === "data" ? UNKNOWN : length), { start: body, end: body + length });
      if (length & 1) pieces.push(new Uint8Array(1));
    }
    const total = 4 + pieces.reduce((sum, p) => sum + (p instanceof Uint8Array ? p.length : p.end - p.start), 0);
    if (this.rf64) {
      const dataLength = this.kept.find((k) => k[0] === "data")[2];
      const ds64 = new Uint8Array(36);
      const view = new DataView(ds64.buffer);
      ds64.set(header("ds64", 28));
      view.setBigUint64(8, BigInt(total + 36), true);
      view.setBigUint64(16, BigInt(dataLength), true);
      return { mime: "audio/wav", pieces: [riffHeader("RF64", UNKNOWN), ds64, ...pieces], found: this.found };
    }
    if (total > UNKNOWN) throw new CannotClean("a RIFF file over 4 GiB");
    return { mime: "audio/wav", pieces: [riffHeader("RIFF", total), ...pieces], found: this.found };
  }
}

function header(cid, length) {
  const out = new Uint8Array(8);
  out.set([...cid].map((ch) => ch.charCodeAt(0)));
  new DataView(out.buffer).setUint32(4, length, true);
  return out;
}

function riffHeader(magic, size) {
  const out = new Uint8Array(12);
  out.set(header(magic, size));
  out.set([0x57, 0x41, 0x56, 0x45], 8); // "WAVE"
  return out;
}

/** The fields of a LIST/INFO chunk (data starts with the form type), each a finding. */
function infoFields(data) {
  const found = [];
  let pos = 4;
  while (pos + 8 <= data.length) {
    const length = u32(data, pos + 4);
    const value = data.subarray(pos + 8, pos + 8 + length);
    const field = name(data, pos);
    if (value.some((b) => b !== 0 && b !== 0x20)) {
      const v = text(value);
      found.push(finding(placed(INFO_KINDS[field] ?? "text", v), `LIST/INFO/${field}`, v));
    }
    pos += 8 + length + (length & 1);
  }
  return found;
}

/** Description, originator (a person or a device name), its reference, date and time, history. */
function bextFields(data) {
  const date = new Uint8Array(19);
  date.set(data.subarray(320, 330));
  date[10] = 0x20;
  date.set(data.subarray(330, 338), 11);
  const umid = data.subarray(348, 412);
  const umidHex = umid.some((b) => b !== 0) ? [...umid].map((b) => b.toString(16).padStart(2, "0")).join("") : "";
  const fields = [
    ["text", "Description", text(data.subarray(0, 256))],
    ["person", "Originator", text(data.subarray(256, 288))],
    ["other", "OriginatorReference", text(data.subarray(288, 320))],
    ["time", "OriginationDate", text(date)],
    ["other", "UMID", umidHex],
    ["software", "CodingHistory", text(data.subarray(602))],
  ];
  return fields.filter(([, , value]) => /[^0\-: ]/.test(value)).map(([kind, field, value]) => finding(placed(kind, value), `bext/${field}`, value));
}
