// Runs first on every page: lets the stylesheet know scripts are on (the drop zone hides its
// plain file input then, and shows the big drop target instead).
document.documentElement.classList.add("js");
