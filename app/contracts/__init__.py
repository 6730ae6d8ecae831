"""Wire types shared by WorldService, the Gateway and the SDK: requests, answers, events."""
