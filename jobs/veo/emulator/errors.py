"""Google's error envelope, which every route of the emulator answers with."""

NOT_FOUND_MESSAGE = "Requested entity was not found."


class ApiError(Exception):
    """An error answered in Google's envelope."""

    def __init__(self, code, status, message, *, details=None, headers=None):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict:
        """Return the JSON error envelope."""
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str) -> ApiError:
    """Return a 400 INVALID_ARGUMENT, Google's answer to a field it refuses."""
    return ApiError(400, "INVALID_ARGUMENT", message)
