/**
 * The `.boot0` that stands in for NRF on the Linux interpreter, which has no
 * Bluetooth: what the firmware's boot calls (setServices, setSecurity, on)
 * and updateServices, keeping what a test drives the link with (NRF.S: the
 * services, so S[service][write].onWrite; NRF.H: the event handlers by name;
 * NRF.N: the notifications since the test last took them, base64). It stands
 * for the board's Bluetooth stack; it is not part of the product.
 */
export const NRF_STUB =
  'if(typeof NRF==="undefined")global.NRF={H:{},N:[],setServices:function(s){NRF.S=s;},' +
  "updateServices:function(s){for(var a in s)for(var b in s[a])NRF.N.push(btoa(E.toString(s[a][b].value)));}," +
  "setSecurity:function(){},on:function(e,f){NRF.H[e]=f;}};";
