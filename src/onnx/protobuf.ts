/**
 * A minimal protobuf wire-format reader and writer.
 *
 * We decode ONNX ourselves instead of using a generated schema so that fields our schema does
 * not know survive the round trip byte for byte: every field we do not model is kept as its
 * raw encoded span and written back verbatim.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** Raised when bytes are not well-formed protobuf (truncated, bad wire type, length overrun). */
export class ProtobufError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'ProtobufError';
  }
}

/** One field as it appears on the wire. `raw` is the whole encoded field, tag included. */
export interface WireField {
  field: number;
  wire: number;
  /** Varint value (int64 semantics, exact for |v| < 2^53). */
  varint: number;
  /** Payload of a length-delimited field, or the 4/8 bytes of a fixed field. */
  bytes: Uint8Array;
  raw: Uint8Array;
}

const TWO_32 = 4294967296;

/**
 * Reads the varint at `pos` as int64 (exact for |v| < 2^53). Reads two 32-bit halves so
 * negative int64 values (10-byte varints) decode exactly. Returns the value and the next offset.
 */
function readVarintAt(buf: Uint8Array, pos: number, end: number): [number, number] {
  let lo = 0;
  let hi = 0;
  for (let i = 0; ; i++) {
    if (pos >= end) throw new ProtobufError('truncated varint', pos);
    if (i >= 10) throw new ProtobufError('varint longer than 10 bytes', pos);
    const b = buf[pos++];
    if (i < 4) lo |= (b & 0x7f) << (7 * i);
    else if (i === 4) {
      lo |= (b & 0x0f) << 28;
      hi |= (b & 0x7f) >> 4;
    } else hi |= (b & 0x7f) << (3 + 7 * (i - 5));
    if ((b & 0x80) === 0) break;
  }
  lo >>>= 0;
  // two's complement negative int64
  const value = hi & 0x80000000 ? -((~hi >>> 0) * TWO_32 + ((~lo >>> 0) + 1)) : (hi >>> 0) * TWO_32 + lo;
  return [value, pos];
}

/** Iterates the fields of one message. Views into `buf`, never copies. */
export function* readFields(buf: Uint8Array): Generator<WireField> {
  let pos = 0;
  const end = buf.length;
  const readVarint = (): number => {
    const [value, next] = readVarintAt(buf, pos, end);
    pos = next;
    return value;
  };
  while (pos < end) {
    const start = pos;
    const tag = readVarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field <= 0) throw new ProtobufError(`invalid field number ${field}`, start);
    let varint = 0;
    let bytes: Uint8Array = EMPTY;
    switch (wire) {
      case WIRE_VARINT:
        varint = readVarint();
        break;
      case WIRE_FIXED64:
        if (pos + 8 > end) throw new ProtobufError('truncated fixed64', pos);
        bytes = buf.subarray(pos, pos + 8);
        pos += 8;
        break;
      case WIRE_LEN: {
        const len = readVarint();
        if (len < 0 || pos + len > end) throw new ProtobufError(`length ${len} runs past the end`, pos);
        bytes = buf.subarray(pos, pos + len);
        pos += len;
        break;
      }
      case WIRE_FIXED32:
        if (pos + 4 > end) throw new ProtobufError('truncated fixed32', pos);
        bytes = buf.subarray(pos, pos + 4);
        pos += 4;
        break;
      default:
        throw new ProtobufError(`unsupported wire type ${wire} (field ${field})`, start);
    }
    yield { field, wire, varint, bytes, raw: buf.subarray(start, pos) };
  }
}

const EMPTY = new Uint8Array(0);
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

export function decodeString(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Decodes a repeated int64 field that may be packed (LEN) or not (VARINT). */
export function pushInt64s(f: WireField, out: number[]): void {
  if (f.wire === WIRE_VARINT) out.push(f.varint);
  else if (f.wire === WIRE_LEN) for (const inner of readPackedVarints(f.bytes)) out.push(inner);
  else throw new ProtobufError(`field ${f.field}: expected varint or packed varints`, 0);
}

function* readPackedVarints(bytes: Uint8Array): Generator<number> {
  let pos = 0;
  while (pos < bytes.length) {
    const [value, next] = readVarintAt(bytes, pos, bytes.length);
    pos = next;
    yield value;
  }
}

/** Decodes a repeated float field, packed or not. */
export function pushFloats(f: WireField, out: number[]): void {
  const view = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  if (f.wire === WIRE_FIXED32) out.push(view.getFloat32(0, true));
  else if (f.wire === WIRE_LEN) {
    if (f.bytes.length % 4 !== 0) throw new ProtobufError(`field ${f.field}: packed floats not a multiple of 4 bytes`, 0);
    for (let i = 0; i < f.bytes.length; i += 4) out.push(view.getFloat32(i, true));
  } else throw new ProtobufError(`field ${f.field}: expected float`, 0);
}

export function fixed32Float(f: WireField): number {
  if (f.wire !== WIRE_FIXED32) throw new ProtobufError(`field ${f.field}: expected fixed32 float`, 0);
  return new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true);
}

/** Payloads at least this long are kept by reference until finish() (weights, nested graphs). */
const BY_REFERENCE_MIN = 64 * 1024;

/**
 * Growable output buffer with protobuf encoders. Small fields are written into a buffer that
 * doubles as it fills; large payloads and nested writers are kept by reference, and finish()
 * copies everything once into a buffer of the exact size. A model's weights are so copied once
 * on their way to ONNX Runtime: writing them into doubling buffers, and each message's buffer
 * into its parent's, took 0.5 to 1.7 s and about 3.5 times the weights' size for a
 * WideResNet-28-10 (146 MB).
 */
export class ProtoWriter {
  /** Finished pieces, in order, before `buf`: sealed small buffers and payloads kept by reference. */
  private pieces: Uint8Array[] = [];
  private piecesLength = 0;
  private buf = new Uint8Array(256);
  private len = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.piecesLength + this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private keep(piece: Uint8Array): void {
    if (this.len > 0) {
      this.pieces.push(this.buf.subarray(0, this.len));
      this.piecesLength += this.len;
      this.buf = new Uint8Array(256);
      this.len = 0;
    }
    this.pieces.push(piece);
    this.piecesLength += piece.length;
  }

  private varint(value: number): void {
    this.reserve(10);
    if (value >= 0 && value < TWO_32) {
      let v = value >>> 0;
      while (v > 0x7f) {
        this.buf[this.len++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.len++] = v;
      return;
    }
    // 64-bit path: split into halves; negatives as two's complement (always 10 bytes).
    let hi: number;
    let lo: number;
    if (value >= 2 ** 63) {
      // INT64_MAX decodes to 2^63 as a double; clamp so it does not wrap to INT64_MIN.
      hi = 0x7fffffff;
      lo = 0xffffffff;
    } else if (value >= 0) {
      hi = Math.floor(value / TWO_32) >>> 0;
      lo = value >>> 0;
    } else {
      const mag = -value;
      let mhi = Math.floor(mag / TWO_32) >>> 0;
      let mlo = (mag - mhi * TWO_32) >>> 0;
      mlo = (~mlo + 1) >>> 0;
      mhi = (~mhi + (mlo === 0 ? 1 : 0)) >>> 0;
      hi = mhi;
      lo = mlo;
    }
    while (hi > 0 || lo > 0x7f) {
      this.buf[this.len++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.len++] = lo;
  }

  tag(field: number, wire: number): this {
    this.varint(field * 8 + wire);
    return this;
  }

  int64(field: number, value: number): this {
    this.tag(field, WIRE_VARINT).varint(value);
    return this;
  }

  /** A length-delimited field: raw bytes, or a nested message still being written (taken as it is now). */
  bytes(field: number, payload: Uint8Array | ProtoWriter): this {
    this.tag(field, WIRE_LEN).varint(payload.length);
    if (payload instanceof ProtoWriter) {
      for (const piece of payload.pieces) this.raw(piece);
      this.raw(payload.buf.subarray(0, payload.len));
    } else this.raw(payload);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
    return this;
  }

  packedInt64s(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  packedFloats(field: number, values: readonly number[]): this {
    const payload = new Uint8Array(values.length * 4);
    const view = new DataView(payload.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, payload);
  }

  /** Appends already-encoded bytes (a preserved field, or a message's payload); a large one by reference. */
  raw(payload: Uint8Array): this {
    if (payload.length >= BY_REFERENCE_MIN) {
      this.keep(payload);
      return this;
    }
    this.reserve(payload.length);
    this.buf.set(payload, this.len);
    this.len += payload.length;
    return this;
  }

  /** The encoding: a view of the buffer when nothing was kept by reference, else one exact copy of every piece. */
  finish(): Uint8Array {
    if (this.pieces.length === 0) return this.buf.subarray(0, this.len);
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const piece of [...this.pieces, this.buf.subarray(0, this.len)]) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }
}
