worldgate plan --request examples/plan_request.json --output table
