package wire

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain marks crmguard's codes in the details of gRPC statuses, both
// ways: an errdetails.ErrorInfo whose reason is the code.
const ErrorDomain = "crmguard"

// FaultCode is the code of a plugin's own failure on one call.
const FaultCode = "plugin_error"

// Fault is a plugin's answer to a call it failed on its own (a hook that
// panicked): the plugin is up and serves other calls; this one has no
// answer. The host tells it apart from a plugin that cannot be reached.
func Fault(message string) error {
	st, err := status.New(codes.Internal, message).WithDetails(&errdetails.ErrorInfo{Reason: FaultCode, Domain: ErrorDomain})
	if err != nil { // only for details that do not marshal
		return status.Error(codes.Internal, message)
	}
	return st.Err()
}

// IsFault reports whether err, from a call into a plugin, is a Fault,
// wrapped or not.
func IsFault(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Internal {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain && info.GetReason() == FaultCode {
			return true
		}
	}
	return false
}
