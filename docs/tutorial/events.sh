worldgate events --follow
