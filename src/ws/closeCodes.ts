/** The close codes are part of the wire protocol (src/protocol/closeCodes.ts); the WebSocket edge uses them from here. */
export { CloseCodes, type CloseCode } from '../protocol/closeCodes';
