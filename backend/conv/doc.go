// Package conv is Threadline's domain: participants, event kinds and the pure
// reducer that turns an ordered log of events into conversation state.
//
// The same code runs on the relay (which validates, derives and orders events)
// and on every device (which applies canonical events and rebases its pending
// ones on top). Nothing here touches a clock, a random source or I/O:
// everything time- or id-dependent arrives inside the event.
package conv
