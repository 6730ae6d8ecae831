worldgate health
