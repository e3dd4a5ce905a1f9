package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	if err := s.producer.Produce(r.Context(), records); err != nil {
		s.logger.Error("produce ingested readings failed", "error", err, "readings", len(records), "request_id", requestID(r.Context()))
		s.fail(w, r, problemf(probUnavailable, "the readings could not be stored; retry the whole request"))
		return
	}
	if err := s.audit(r, entries...); err != nil {
		s.fail(w, r, err)
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
// list of up to maxIngestReadings.
func readIngestBody(w http.ResponseWriter, r *http.Request, limit int64) ([]json.RawMessage, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, problemf(probTooLarge, "the body is larger than %d bytes; send fewer readings per request", limit)
	}
	if err != nil {
		return nil, problemf(probMalformed, "read the body: %v", err)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, problemf(probMalformed, "the body is empty; send a reading object or a list of them")
	}
	if trimmed[0] == '{' {
		if !json.Valid(trimmed) {
			return nil, problemf(probMalformed, "the body is not valid JSON")
		}
		return []json.RawMessage{trimmed}, nil
	}
	if trimmed[0] != '[' {
		return nil, problemf(probMalformed, "send a reading object or a list of them")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(trimmed, &list); err != nil {
		return nil, jsonProblem(err, limit)
	}
	if len(list) == 0 || len(list) > maxIngestReadings {
		return nil, invalid(FieldError{"body", fmt.Sprintf("must list 1 to %d readings", maxIngestReadings)})
	}
	return list, nil
}
