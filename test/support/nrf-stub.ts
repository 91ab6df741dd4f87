/**
 * The `.boot0` that stands in for NRF on the Linux interpreter, which has no
 * Bluetooth: what the firmware's boot calls (NRF.setServices). One copy for
 * the interpreter rigs and bench/memory.ts. It stands for the board's
 * Bluetooth stack; it is not part of the product.
 */
export const NRF_STUB = 'if(typeof NRF==="undefined")global.NRF={setServices:function(){}};';
