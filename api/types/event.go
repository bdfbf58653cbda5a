package types

// Event is one line of GET /events at v1.19 (Docker 1.7's
// jsonmessage.JSONMessage as the events service filled it): status, id,
// from and time, each omitted when empty.
type Event struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	Time   int64  `json:"time,omitempty"`
	// Actor is not in the v1.19 document; it is sent only on events that
	// carry attributes (die's exitCode). The current docker CLI, talking
	// v1.19, waits for `docker run` through /events and reads the exit
	// status only from Actor.Attributes.exitCode (docker/cli
	// legacyWaitExitOrRemoved): without it every `docker run` exits 125.
	// Docker 1.7 clients ignore the unknown key, as Go's JSON decoder does.
	Actor *EventActor `json:"Actor,omitempty"`
}

// EventActor carries an event's attributes, in the shape of API ≥ 1.22's
// events.Actor (its ID is left out: the v1.19 id is already there).
type EventActor struct {
	Attributes map[string]string `json:"Attributes,omitempty"`
}
