package transcribe

import (
	"fmt"

	"github.com/healthhub/healthhub/backend/domain"
)

// AWSError is Amazon Transcribe refusing or failing a stream: the
// exception it named (BadRequestException, LimitExceededException,
// InternalFailureException, ConflictException,
// ServiceUnavailableException), or the HTTP status of a refused
// connection, with the service's message and what to do about it.
// Retryable ones may succeed when tried again later.
type AWSError struct {
	Exception string
	// Status is the HTTP status of a refused WebSocket handshake (0 for
	// an exception sent on an open stream).
	Status    int
	Message   string
	Retryable bool
}

func newAWSError(exception, message string) *AWSError {
	e := &AWSError{Exception: exception, Message: message}
	switch exception {
	case "LimitExceededException", "InternalFailureException", "ServiceUnavailableException", "ThrottlingException":
		e.Retryable = true
	}
	return e
}

func (e *AWSError) Error() string {
	what := e.Exception
	if e.Status != 0 {
		what = fmt.Sprintf("HTTP %d", e.Status)
	}
	msg := "Amazon Transcribe Medical answered " + what
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if advice := e.advice(); advice != "" {
		msg += " (" + advice + ")"
	}
	return msg
}

// advice says what an admin can do about the error.
func (e *AWSError) advice() string {
	switch {
	case e.Status == 401 || e.Status == 403:
		return "the request's signature was refused: check the AWS credentials, that they may call transcribe:StartMedicalStreamTranscriptionWebSocket, and that this computer's clock is right"
	case e.Status == 404:
		return "no medical streaming in this region or at this endpoint: check the region"
	case e.Status == 429:
		return "too many requests: try again later"
	case e.Status >= 500:
		return "the service is failing: try again later"
	case e.Status != 0:
		return ""
	}
	switch e.Exception {
	case "BadRequestException":
		return "check the language (en-US only), the specialty, the type and that the audio is 16-bit PCM at the sample rate given"
	case "LimitExceededException":
		return "an Amazon Transcribe limit of the AWS account was reached, such as concurrent streams or stream length: try again later or raise the quota"
	case "InternalFailureException", "ServiceUnavailableException":
		return "the service is failing: try again later"
	case "ConflictException":
		return "another stream started with the same session id and ended this one"
	}
	return ""
}

// Unwrap gives the coded error the API answers with.
func (e *AWSError) Unwrap() error {
	code := domain.EUNAVAILABLE
	switch {
	case e.Status == 429 || e.Exception == "LimitExceededException" || e.Exception == "ThrottlingException":
		code = domain.ERATELIMITED
	case e.Exception == "BadRequestException":
		code = domain.EINVALID
	case e.Exception == "ConflictException":
		code = domain.ECONFLICT
	}
	return &domain.Error{Code: code, Message: e.Error()}
}
