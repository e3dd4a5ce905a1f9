package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/engine"
)

// maxIngestReadings bounds the readings of one ingest request.
const maxIngestReadings = 1000

// ingestRejection is one reading an ingest request rejected, with the
// validation's reason.
type ingestRejection struct {
	Index int `json:"index"`
	vytalwatch.Rejection
}

type ingestResponse struct {
	Accepted int `json:"accepted"`
}

// handleIngest takes one canonical reading or a list, validates each as
// the engine does, and produces the accepted ones to vitals.readings,
// keyed by patient id. When any reading is rejected the response is 422
// listing each rejection. The accepted readings of the request are
// produced all the same, and the document states how many.
//
// Everything that can fail the request runs before the produce, the
// audit write included, so an error response means that none of the
// readings went in. A failed produce leaves audit records for readings
// that the client must send again.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	if s.producer == nil {
		s.fail(w, r, problemf(probUnavailable, "ingest is not configured on this instance; set KAFKA_BROKERS"))
		return
	}
	payloads, err := readIngestBody(w, r, s.cfg.BodyLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}

	now := s.now()
	var records []engine.Record
	var rejections []ingestRejection
	var entries []auditEntry
	seen := map[string]bool{}
	for i, payload := range payloads {
		reading, rej := vytalwatch.DecodeReading(payload, now, s.cfg.Validation)
		if rej != nil {
			rejections = append(rejections, ingestRejection{Index: i, Rejection: *rej})
			continue
		}
		value, err := json.Marshal(reading)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		records = append(records, engine.Record{Topic: s.cfg.Topics.Readings, Key: []byte(reading.PatientID), Value: value})
		if !seen[reading.PatientID] {
			seen[reading.PatientID] = true
			entries = append(entries, auditEntry{action: "readings.ingest", resourceType: "reading", resourceID: reading.PatientID, patientID: reading.PatientID})
		}
	}

	if err := s.audit(r, entries...); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.producer.Produce(r.Context(), records); err != nil {
		s.logger.Error("produce ingested readings failed", "error", err, "readings", len(records), "request_id", requestID(r.Context()))
		s.fail(w, r, problemf(probUnavailable, "the readings could not be stored; retry the whole request"))
		return
	}
	if len(rejections) > 0 {
		e := problemf(probValidation, "%d of %d readings were rejected and %d accepted; fix the rejected ones and send only those again",
			len(rejections), len(payloads), len(records))
		e.extend = func(p *Problem) { p.Rejections = rejections }
		s.fail(w, r, e)
		return
	}
	writeJSON(w, http.StatusAccepted, ingestResponse{Accepted: len(records)})
}

// readIngestBody returns the raw readings of the body: one object, or a
// list of up to maxIngestReadings. It applies decodeJSON's checks of
// content type, size, syntax and text, and rejects fields that a reading
// does not have.
func readIngestBody(w http.ResponseWriter, r *http.Request, limit int64) ([]json.RawMessage, error) {
	var body json.RawMessage
	if err := decodeJSON(w, r, limit, &body); err != nil {
		return nil, err
	}
	// decodeJSON has rejected an empty body, so body holds a value.
	body = bytes.TrimSpace(body)
	var payloads []json.RawMessage
	switch body[0] {
	case '{':
		payloads = []json.RawMessage{body}
	case '[':
		if err := json.Unmarshal(body, &payloads); err != nil {
			return nil, jsonProblem(err, limit)
		}
		if len(payloads) == 0 || len(payloads) > maxIngestReadings {
			return nil, invalid(FieldError{"body", fmt.Sprintf("must list 1 to %d readings", maxIngestReadings)})
		}
	default:
		return nil, problemf(probMalformed, "send a reading object or a list of them")
	}
	for i, payload := range payloads {
		field := vytalwatch.UnknownReadingField(payload)
		if field == "" {
			continue
		}
		if body[0] == '[' {
			field = fmt.Sprintf("[%d].%s", i, field)
		}
		return nil, problemf(probMalformed, "unknown field %q; remove it (see /openapi.json for the fields)", field)
	}
	return payloads, nil
}
