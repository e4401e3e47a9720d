export function leadingZeroBits(bytes: Uint8Array): number;
export function powDigest(nonce: string, solution: string): Promise<Uint8Array>;
export function solve(nonce: string, bits: number, onProgress?: (tries: number) => void): Promise<string>;
